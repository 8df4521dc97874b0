import { spawn } from 'node:child_process';
import { chmod, copyFile, lstat } from 'node:fs/promises';
import path from 'node:path';
import type { Handler } from '../catalog/manifest.js';
import { UpcatError } from '../errors.js';
import { checkRelativePath } from '../publish/safe-path.js';
import { splitArguments, substituteProperties } from './args.js';
import { mapReturnCode, type Outcome } from './return-codes.js';
import { checkNotWritableByOthers } from './state-dir.js';
import { extractZip } from './unzip.js';

export interface HandlerRun {
  handler: Handler;
  operation: 'install' | 'uninstall';
  /** The verified payload in the download directory. */
  payload: { file: string; name: string; kind: 'file' | 'package' };
  /** An empty private directory (0700) inside the state dir, where the installer runs. */
  workDir: string;
  /** The state dir: every directory from the program up to it is checked before running. */
  stateDir: string;
  properties: Readonly<Record<string, string>>;
  timeoutMs: number;
  /** Extra environment for the installer (update ID, revision...). */
  env?: Record<string, string>;
  platform?: NodeJS.Platform;
  /** Where Windows lives (default: `%SystemRoot%` of the agent's environment, else C:\Windows). */
  systemRoot?: string;
}

export interface HandlerResult {
  code: number | null;
  outcome: Outcome;
  /** The end of the installer's output, or why it did not run. */
  detail: string;
}

const OUTPUT_TAIL = 1500;
const MAX_UNPACKED_BYTES = 16 * 1024 ** 3;

/**
 * Runs an update's handler (issue 6 item 2): the payload is unpacked (a package) or copied (a
 * file) into the private work directory, then the command line's program runs there with its
 * arguments, directly (no shell), with a timeout. An MSI runs through the system's
 * `%SystemRoot%\System32\msiexec.exe /qn` behind the same interface, on Windows only. The exit
 * code maps through the manifest's return codes.
 */
export async function runHandler(run: HandlerRun): Promise<HandlerResult> {
  await stage(run);
  const { program, args } = handlerCommand(run);
  // msiexec is the system's; anything from the payload is checked where it lies.
  if (program.startsWith(run.workDir)) await checkNotWritableByOthers(program, run.stateDir);
  const { code, output, timedOut } = await spawnWithTimeout(program, args, run);
  const outcome = mapReturnCode(run.handler, timedOut ? null : code);
  const why = timedOut
    ? `timed out after ${Math.round(run.timeoutMs / 1000)} s`
    : `exit code ${code ?? 'none'}`;
  return { code, outcome, detail: `${why}${output === '' ? '' : `: ${output}`}` };
}

async function stage(run: HandlerRun): Promise<void> {
  await checkNotWritableByOthers(run.workDir, run.stateDir);
  if (run.payload.kind === 'package') {
    await extractZip(run.payload.file, run.workDir, {
      maxEntries: 100_000,
      maxTotalBytes: MAX_UNPACKED_BYTES,
    });
  } else {
    const name = checkRelativePath(path.basename(run.payload.name), 'payload file name');
    const dest = path.join(run.workDir, name);
    await copyFile(run.payload.file, dest);
    await chmod(dest, 0o700);
  }
}

/**
 * The program and arguments a handler runs. msiexec is named by its absolute path: the
 * installer's working directory is the unpacked payload, and Windows looks for a bare program
 * name in the current directory first, so a payload's own msiexec.exe would run instead.
 */
export function handlerCommand(run: HandlerRun): { program: string; args: string[] } {
  const h = run.handler;
  const subst = (text: string): string[] =>
    substituteProperties(splitArguments(text), run.properties);
  if (h.type === 'commandLine') {
    const spec =
      run.operation === 'install' ? { program: h.program, arguments: h.arguments } : h.uninstall;
    if (spec === undefined)
      throw new UpcatError(
        'invalid_input',
        'the update has no uninstall command line: it cannot be uninstalled',
      );
    const rel = checkRelativePath(spec.program, 'handler.program');
    return { program: path.join(run.workDir, ...rel.split('/')), args: subst(spec.arguments) };
  }
  if ((run.platform ?? process.platform) !== 'win32')
    throw new UpcatError('invalid_input', 'an msi handler runs on Windows only');
  const win = path.win32;
  const msiexec = win.join(run.systemRoot ?? systemRoot(), 'System32', 'msiexec.exe');
  if (run.operation === 'uninstall')
    return {
      program: msiexec,
      args: ['/x', h.productCode, '/qn', ...subst(h.uninstallCommandLine)],
    };
  const msi =
    h.program === undefined
      ? win.join(run.workDir, win.basename(run.payload.name))
      : win.join(run.workDir, ...checkRelativePath(h.program, 'handler.program').split('/'));
  return { program: msiexec, args: ['/i', msi, '/qn', ...subst(h.installCommandLine)] };
}

/** `%SystemRoot%` when it is an absolute Windows path (a relative one would be searched), else C:\Windows. */
export function systemRoot(env: NodeJS.ProcessEnv = process.env): string {
  const root = env['SystemRoot'] ?? env['SYSTEMROOT'];
  return root !== undefined && /^[A-Za-z]:\\/.test(root) ? root : 'C:\\Windows';
}

function spawnWithTimeout(
  program: string,
  args: string[],
  run: HandlerRun,
): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      ...(process.env['SystemRoot'] === undefined ? {} : { SystemRoot: process.env['SystemRoot'] }),
      ...propertyEnv(run.properties),
      ...run.env,
    };
    const child = spawn(program, args, {
      cwd: run.workDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32', // its own process group, so a timeout kills the tree
    });
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString('utf8')).slice(-OUTPUT_TAIL);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined && process.platform !== 'win32')
          process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }, run.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(
        new UpcatError('invalid_input', `cannot run ${path.basename(program)}: ${err.message}`),
      );
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: output.trim(), timedOut });
    });
  });
}

/** Installation properties reach the installer as UPCAT_PROPERTY_<name> (and `$(name)` in arguments). */
export function propertyEnv(properties: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(properties))
    out[`UPCAT_PROPERTY_${name.replace(/[^A-Za-z0-9_]/g, '_')}`] = value;
  return out;
}

/** Whether a path exists and is a regular file (used for entry points). */
export async function isFile(file: string): Promise<boolean> {
  try {
    return (await lstat(file)).isFile();
  } catch {
    return false;
  }
}
