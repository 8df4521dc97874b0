import type { Command } from 'commander';
import { invalidInput } from '../../errors.js';
import { output, withSite } from '../context.js';

/** `upcat migrate-storage --metadata <files|database>` (docs/OPERATIONS.md, "TUF metadata in the database"). */
export function registerMigrateStorage(program: Command): void {
  program
    .command('migrate-storage')
    .description(
      "move the site's TUF metadata between catalog/tuf/ and the database (storage.metadata); " +
        'stop upcat serve on every node first (docs/OPERATIONS.md)',
    )
    .requiredOption('--metadata <store>', 'where the metadata goes: database or files')
    .option('--dry-run', 'report what would be copied, copy nothing')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { metadata: string; dryRun?: boolean; json?: boolean }, cmd: Command) => {
      const to = opts.metadata;
      if (to !== 'database' && to !== 'files') {
        throw invalidInput(`--metadata: "${to}" is not database or files`);
      }
      const { migrateMetadata } = await import('../../signing/tuf-migrate.js');
      const report = await withSite(cmd, (site) =>
        migrateMetadata(site.config, site.db, to, { dryRun: opts.dryRun === true }),
      );
      output(opts.json, report, () =>
        report.dryRun
          ? `would copy ${report.files} metadata files (${report.bytes} bytes) from ${report.from} to ${report.to}`
          : [
              `copied ${report.files} metadata files (${report.bytes} bytes) from ${report.from} to ${report.to}; each reads back identical`,
              `now set "storage": { "metadata": "${report.to}" } in upcat.config.json on every node and start upcat serve`,
            ].join('\n'),
      );
    });
}
