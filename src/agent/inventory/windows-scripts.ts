/**
 * The PowerShell that the Windows provider runs, one script per kind of question, each
 * printing one JSON document. Scripts go through -EncodedCommand (UTF-16LE base64), so paths
 * and class names never meet a command-line parser; inside, strings are single-quoted
 * PowerShell literals, where only the quote itself needs escaping.
 */
import type { WmiClassRequest } from './provider.js';

export function powershellArgs(script: string): string[] {
  return [
    '-NoProfile',
    '-NonInteractive',
    '-ExecutionPolicy',
    'Bypass',
    '-EncodedCommand',
    Buffer.from(script, 'utf16le').toString('base64'),
  ];
}

/** Decodes what powershellArgs encoded (for tests and logs). */
export function scriptOf(args: readonly string[]): string {
  const at = args.indexOf('-EncodedCommand');
  return at === -1 ? '' : Buffer.from(args[at + 1] ?? '', 'base64').toString('utf16le');
}

export function quote(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

const PRELUDE = "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';";

/** OS version, product type, service pack and processor architecture. */
export function platformScript(): string {
  return `${PRELUDE}
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$cpu = Get-CimInstance -ClassName Win32_Processor | Select-Object -First 1
[pscustomobject]@{ Version = $os.Version; ProductType = $os.ProductType;
  ServicePackMajorVersion = $os.ServicePackMajorVersion; ServicePackMinorVersion = $os.ServicePackMinorVersion;
  Architecture = $cpu.Architecture } | ConvertTo-Json -Compress`;
}

/** Size, version and times of each path that exists; absent paths are left out. */
export function filesScript(paths: readonly string[]): string {
  return `${PRELUDE}
$out = @()
foreach ($p in @(${paths.map(quote).join(', ')})) {
  $i = Get-Item -LiteralPath $p -Force -ErrorAction SilentlyContinue
  if ($null -eq $i -or $i.PSIsContainer) { continue }
  $v = $i.VersionInfo
  $ver = if ($v -and $v.FileVersionRaw) { $v.FileVersionRaw.ToString() } else { $null }
  $out += [pscustomobject]@{ Path = $p; Size = $i.Length; Version = $ver;
    Created = $i.CreationTimeUtc.ToString('o'); Modified = $i.LastWriteTimeUtc.ToString('o') }
}
ConvertTo-Json -InputObject @($out) -Compress`;
}

/**
 * Instances of each class; a class that cannot be read is left out (so rules on it are
 * unknown). Only scalar properties survive ConvertTo-Json usefully, the reader drops the rest.
 */
export function wmiScript(classes: readonly WmiClassRequest[]): string {
  const lines = classes.map(
    (c, i) =>
      `try { $r[${quote(String(i))}] = @(Get-CimInstance -Namespace ${quote(c.namespace)} -ClassName ${quote(c.className)} | Select-Object -Property * -ExcludeProperty Cim*) } catch { }`,
  );
  return `${PRELUDE}
$r = [ordered]@{}
${lines.join('\n')}
ConvertTo-Json -InputObject $r -Depth 3 -Compress`;
}
