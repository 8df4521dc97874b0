import type { Command } from 'commander';
import { invalidInput } from '../../errors.js';
import { exportCatalog, exportOptionsOf, exportSdp } from '../../windows/sdp/index.js';
import { output, withSite } from '../context.js';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * `upcat export sdp` and `upcat export catalog`: the site's updates as System Center Updates
 * Publisher documents (issue 11 item 8), valid against Microsoft's SDP schemas.
 */
export function registerExport(program: Command): void {
  const exp = program
    .command('export')
    .description('write updates as SoftwareDistributionPackage (SCUP) documents');

  exp
    .command('sdp')
    .description('one revision as a .sdp document (the latest unless --revision)')
    .argument('<updateId>', 'the update to export')
    .option('--revision <n>', 'the revision number (default: the latest)')
    .option('--out <file>', 'write to this new file (default: standard output)')
    .option('--json', 'print the result as JSON (needs --out)')
    .action(
      async (
        updateId: string,
        opts: { revision?: string; out?: string; json?: boolean },
        cmd: Command,
      ) => {
        if (!GUID.test(updateId)) throw invalidInput(`updateId: "${updateId}" is not a GUID`);
        const revision = opts.revision === undefined ? undefined : positive(opts.revision);
        requireOutForJson(opts);
        await withSite(cmd, async (site) => {
          const result = await exportSdp(site.db, exportOptionsOf(site.config), {
            updateId,
            revision,
            out: opts.out,
          });
          if (result.xml !== undefined) {
            process.stdout.write(result.xml);
            for (const n of result.notes) process.stderr.write(`note: ${n}\n`);
            return;
          }
          output(opts.json, result, () =>
            [
              `exported update ${result.updateId} revision ${result.revision} to ${result.out ?? ''}`,
              ...result.notes.map((n) => `  note: ${n}`),
            ].join('\n'),
          );
        });
      },
    );

  exp
    .command('catalog')
    .description(
      'the latest revision of every active update as an smc:SystemsManagementCatalog; ' +
        "packages Microsoft's vocabulary cannot express are left out and listed with the reason",
    )
    .option('--product <name>', 'only updates of this product')
    .option(
      '--since <date>',
      'only revisions published on or after this date (2026-01-31 or ISO 8601)',
    )
    .option('--out <file>', 'write to this new file (default: standard output)')
    .option('--json', 'print the result as JSON (needs --out)')
    .action(
      async (
        opts: { product?: string; since?: string; out?: string; json?: boolean },
        cmd: Command,
      ) => {
        const since = opts.since === undefined ? undefined : date(opts.since);
        requireOutForJson(opts);
        await withSite(cmd, async (site) => {
          const result = await exportCatalog(site.db, exportOptionsOf(site.config), {
            product: opts.product,
            since,
            out: opts.out,
          });
          const leftOut = result.leftOut.map(
            (l) => `left out ${l.updateId} r${l.revision} "${l.title}": ${l.reason}`,
          );
          if (result.xml !== undefined) {
            process.stdout.write(result.xml);
            for (const line of leftOut) process.stderr.write(`${line}\n`);
            return;
          }
          output(opts.json, { ...result, xml: undefined }, () =>
            [
              `exported ${result.packages.length} package(s) to ${result.out ?? ''} (${result.bytes} bytes); ${result.leftOut.length} left out`,
              ...leftOut.map((l) => `  ${l}`),
            ].join('\n'),
          );
        });
      },
    );
}

function requireOutForJson(opts: { out?: string; json?: boolean }): void {
  if (opts.json === true && opts.out === undefined) {
    throw invalidInput(
      '--json needs --out: the document and the report would share standard output',
    );
  }
}

function positive(value: string): number {
  if (!/^[1-9]\d{0,8}$/.test(value))
    throw invalidInput(`--revision: "${value}" is not a revision number`);
  return Number(value);
}

function date(value: string): Date {
  const parsed = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(value)
    ? new Date(value)
    : new Date(NaN);
  if (Number.isNaN(parsed.getTime())) {
    throw invalidInput(
      `--since: "${value}" is not a date such as 2026-01-31 or 2026-01-31T12:00:00Z`,
    );
  }
  return parsed;
}
