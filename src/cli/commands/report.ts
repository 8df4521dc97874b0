import type { Command } from 'commander';
import { UpcatError } from '../../errors.js';
import { output, withSite } from '../context.js';
import { table } from './table.js';

/** `upcat report revisions|client|stale|client-install-failures` (issue 5 item 10). */
export function registerReport(program: Command): void {
  const report = program.command('report').description('compliance reports');

  report
    .command('revisions')
    .description('per deployed revision: clients installed, failed, pending, not applicable')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const rows = await site.reports.revisions();
        output(opts.json, rows, () =>
          table(
            ['UPDATE', 'REV', 'TITLE', 'INSTALLED', 'FAILED', 'PENDING', 'NOT APPLICABLE'],
            rows.map((r) => [
              r.updateId,
              r.revision,
              r.title,
              r.installed,
              r.failed,
              r.pending,
              r.notApplicable,
            ]),
          ),
        );
      });
    });

  report
    .command('client')
    .description("a client's state message history, newest first")
    .argument('<clientId>', 'the client record')
    .option('--json', 'print JSON')
    .action(async (clientId: string, opts: { json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const rows = await site.reports.clientHistory(clientId);
        output(opts.json, rows, () =>
          table(
            ['RECEIVED', 'TOPIC', 'UPDATE', 'REV', 'STATE', 'CODE'],
            rows.map((r) => [
              r.receivedAt,
              r.topic,
              r.updateId ?? '-',
              r.revision ?? '-',
              r.state,
              r.code ?? '-',
            ]),
          ),
        );
      });
    });

  report
    .command('stale')
    .description('clients not seen for N days')
    .option('--days <n>', 'days without contact', '30')
    .option('--json', 'print JSON')
    .action(async (opts: { days: string; json?: boolean }, cmd: Command) => {
      if (!/^\d{1,5}$/.test(opts.days) || Number(opts.days) < 1) {
        throw new UpcatError('invalid_input', '--days: must be a whole number of days, 1 or more');
      }
      await withSite(cmd, async (site) => {
        const rows = await site.reports.stale(Number(opts.days));
        output(opts.json, rows, () =>
          table(
            ['CLIENT', 'NAME', 'HARDWARE ID', 'LAST CONTACT'],
            rows.map((r) => [r.clientId, r.name, r.hardwareId, r.lastContact ?? 'never']),
          ),
        );
      });
    });

  report
    .command('client-install-failures')
    .description(
      'endpoints that reported through the fallback status point that the client failed to install',
    )
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const rows = await site.reports.clientInstallFailures();
        output(opts.json, rows, () =>
          table(
            ['HARDWARE ID', 'NAME', 'SOURCE', 'CODE', 'FAILURES', 'LAST'],
            rows.map((r) => [
              r.hardwareId ?? '-',
              r.name ?? '-',
              r.source ?? '-',
              r.code ?? '-',
              r.failures,
              r.lastAt,
            ]),
          ),
        );
      });
    });
}
