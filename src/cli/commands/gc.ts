import type { Command } from 'commander';
import type { GcReport } from '../../ops/maintenance.js';
import { output, withSite } from '../context.js';

/** `upcat gc [--dry-run] [--json]` (docs/OPERATIONS.md, "Maintenance"). */
export function registerGc(program: Command): void {
  program
    .command('gc')
    .description(
      'remove what no current client, revision or download needs: old TUF metadata, unreferenced ' +
        'and retired payloads, stale temporary files; roll up old state messages; delete old ' +
        'obsolete client records (docs/OPERATIONS.md, "Maintenance")',
    )
    .option('--dry-run', 'report what would be removed, remove nothing')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { dryRun?: boolean; json?: boolean }, cmd: Command) => {
      const { runGc } = await import('../../ops/maintenance.js');
      const report = await withSite(cmd, (site) => runGc(site, { dryRun: opts.dryRun === true }));
      output(opts.json, report, () => describe(report));
    });
}

function describe(r: GcReport): string {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const f = (x: { files: number; bytes: number }): string => `${x.files} files (${x.bytes} bytes)`;
  return [
    `${verb}: old TUF metadata ${f(r.tufMetadata)}`,
    `${verb}: unreferenced pool files ${f(r.unreferencedPayloads)}`,
    `${verb}: payloads of revisions retired past retention ${f(r.retiredPayloads)}`,
    `${verb}: stale temporary files ${f(r.temporaryFiles)}`,
    `${r.dryRun ? 'would roll up' : 'rolled up'}: ${r.stateMessages.messages} old state messages into ${r.stateMessages.rollups} counts`,
    `${r.dryRun ? 'would delete' : 'deleted'}: ${r.obsoleteClients} obsolete client records`,
    `${r.dryRun ? 'would free' : 'freed'} ${r.bytes} bytes in all`,
  ].join('\n');
}
