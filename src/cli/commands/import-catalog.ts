import type { Command } from 'commander';
import { invalidInput } from '../../errors.js';
import {
  importCatalogFile,
  type CatalogImportResult,
  type PackageOutcome,
} from '../../publish/sdp/index.js';
import { localActor, output, withSite } from '../context.js';

interface ImportOptions {
  dryRun?: boolean;
  json?: boolean;
  payloads?: string;
}

/** `upcat import-catalog` (issue 4, item 5): a vendor's SystemsManagementCatalog. */
export function registerImportCatalog(program: Command): void {
  program
    .command('import-catalog')
    .description(
      'import a vendor catalog (SystemsManagementCatalog of SDPs): report per package what maps and what does not',
    )
    .argument('<catalog.xml>', 'the SystemsManagementCatalog document')
    .option('--dry-run', 'publish nothing: only map and check every package')
    .option('--payloads <dir>', "folder holding the packages' files, by OriginFile name")
    .option('--json', 'print {"dryRun","summary","packages":[...]}')
    .action(async (file: string, opts: ImportOptions, cmd: Command) => {
      const dryRun = opts.dryRun === true;
      if (!dryRun && opts.payloads === undefined) {
        throw invalidInput(
          'import-catalog: a catalog holds metadata only; give --payloads <dir> to publish, or --dry-run',
        );
      }
      // Streamed, one package at a time: memory does not grow with the catalog.
      const run = async (publisher?: Parameters<typeof importCatalogFile>[1]['publisher']) =>
        importCatalogFile(
          file,
          {
            dryRun,
            ...(opts.payloads === undefined ? {} : { payloadDir: opts.payloads }),
            ...(publisher === undefined ? {} : { publisher }),
            actor: localActor(),
          },
          `catalog ${file}`,
        );
      const result = dryRun ? await run() : await withSite(cmd, (site) => run(site.publish));
      output(opts.json, result, () => human(result));
    });
}

function human(result: CatalogImportResult): string {
  const s = result.summary;
  const lines = result.packages.map(packageLine);
  lines.push(
    `${s.packages} package(s): ${s.mapped} mapped, ${s.invalid} invalid` +
      (result.dryRun
        ? ' (dry run: nothing published)'
        : `, ${s.published} published, ${s.unchanged} unchanged, ${s.skipped} skipped, ${s.failed} failed`),
  );
  const names = Object.entries(s.unmappedByName).map(([n, c]) => `${n} x${c}`);
  if (names.length > 0) lines.push(`not mapped: ${names.join(', ')}`);
  const rules = Object.entries(s.unsupportedRulesByName).map(([n, c]) => `${n} x${c}`);
  if (rules.length > 0)
    lines.push(`rules kept verbatim (evaluate to unknown): ${rules.join(', ')}`);
  return lines.join('\n');
}

function packageLine(p: PackageOutcome): string {
  const head = `${p.status.padEnd(9)} ${p.packageId ?? '?'} ${p.title ?? '(no title)'}`;
  const parts: string[] = [];
  if (p.version !== null) parts.push(`version ${p.version} from ${p.versionSource ?? '?'}`);
  if (p.message !== undefined) parts.push(p.message);
  const unmapped = [...new Set(p.unmapped.map((u) => u.name))];
  if (unmapped.length > 0) parts.push(`not mapped: ${unmapped.join(', ')}`);
  const rules = [...new Set(p.unsupportedRules.map((u) => u.name))];
  if (rules.length > 0) parts.push(`rules kept verbatim: ${rules.join(', ')}`);
  return parts.length === 0 ? head : `${head}: ${parts.join('; ')}`;
}
