import type { Command } from 'commander';
import { output, withSite } from '../context.js';

/** `upcat migrate-db --to postgres://… | sqlite` (docs/OPERATIONS.md, "Moving a site's database"). */
export function registerMigrateDb(program: Command): void {
  program
    .command('migrate-db')
    .description(
      "copy the site's database into an empty database of the other kind (SQLite to PostgreSQL " +
        'or back), verified table by table (row counts and digests); stop upcat serve first ' +
        '(docs/OPERATIONS.md)',
    )
    .requiredOption('--to <target>', 'postgres://user@host:5432/db, or sqlite (catalog/upcat.db)')
    .option(
      '--schema <name>',
      'PostgreSQL schema to create the tables in (default: the search path)',
    )
    .option('--json', 'print the report as JSON')
    .action(async (opts: { to: string; schema?: string; json?: boolean }, cmd: Command) => {
      const { migrateDatabase } = await import('../../ops/migrate-db.js');
      const report = await withSite(cmd, (site) =>
        migrateDatabase(site, opts.to, opts.schema === undefined ? {} : { schema: opts.schema }),
      );
      output(opts.json, report, () =>
        [
          `copied ${report.rows} rows in ${report.tables.length} tables from ${report.from} to ${report.target}; every table's row count and digest match`,
          report.to === 'postgres'
            ? `now set DATABASE_URL to the target${opts.schema === undefined ? '' : ` and UPCAT_DATABASE_SCHEMA=${opts.schema}`} and start upcat serve`
            : 'now unset DATABASE_URL and start upcat serve',
        ].join('\n'),
      );
    });
}
