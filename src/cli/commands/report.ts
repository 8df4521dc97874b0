import type { Command } from 'commander';
import { UpcatError } from '../../errors.js';
import type {
  ClientInstallFailure,
  HistoryEntry,
  RevisionReport,
  StaleClient,
} from '../../site/reports.js';
import type { HistoryPoint } from '../../site/report-history.js';
import { reportCsv, type ReportKind, type ReportRow } from '../../site/report-csv.js';
import { output } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';
import { historyTable } from './history-table.js';
import { table } from './table.js';

type Opts = RemoteOptions & { json?: boolean; csv?: boolean };

/**
 * `upcat report revisions|client|stale|client-install-failures` (issue 5 item 10); with
 * `--server URL --token T`, through `GET /v1/reports/...` (issue 7). `--csv` prints the CSV that
 * the server answers for `?format=csv` (issue 14 item 3): both write it with site/report-csv.ts,
 * and a remote report is rendered from its JSON answer, so the bytes are the same.
 */
export function registerReport(program: Command): void {
  const report = program.command('report').description('compliance reports');

  remoteOptions(
    report
      .command('revisions')
      .description(
        'per deployment (latest revision, group): whether it is still in policy; of the approved, active clients it targets, how many installed, already installed, uninstalled, failed, are pending, not applicable',
      )
      .option('--json', 'print JSON')
      .option('--csv', 'print CSV (RFC 4180, a header row), as GET /v1/reports/... ?format=csv'),
  ).action(async (opts: Opts, cmd: Command) => {
    const rows = await localOrRemote(
      cmd,
      opts,
      (site) => site.reports.revisions(),
      async (remote) =>
        (await remote.getJson<{ revisions: RevisionReport[] }>('/v1/reports/revisions')).revisions,
    );
    print(opts, 'revisions', rows, () =>
      table(
        [
          'UPDATE',
          'REV',
          'GROUP',
          'TITLE',
          'STATUS',
          'INSTALLED',
          'ALREADY INSTALLED',
          'UNINSTALLED',
          'FAILED',
          'PENDING',
          'NOT APPLICABLE',
        ],
        rows.map((r) => [
          r.updateId,
          r.revision,
          r.group,
          r.title,
          r.status,
          r.installed,
          r.alreadyInstalled,
          r.uninstalled,
          r.failed,
          r.pending,
          r.notApplicable,
        ]),
      ),
    );
  });

  remoteOptions(
    report
      .command('client')
      .description("a client's state message history, newest first")
      .argument('<clientId>', 'the client record')
      .option('--json', 'print JSON')
      .option('--csv', 'print CSV (RFC 4180, a header row), as GET /v1/reports/... ?format=csv'),
  ).action(async (clientId: string, opts: Opts, cmd: Command) => {
    const rows = await localOrRemote(
      cmd,
      opts,
      (site) => site.reports.clientHistory(clientId),
      async (remote) =>
        (
          await remote.getJson<{ history: HistoryEntry[] }>(
            `/v1/reports/clients/${encodeURIComponent(clientId)}/history`,
          )
        ).history,
    );
    print(opts, 'history', rows, () => historyTable(rows));
  });

  remoteOptions(
    report
      .command('history')
      .description(
        "a revision's installed / failed / pending counts over time, one row per hour or day, of the clients its deployments target today",
      )
      .argument('<updateId>', 'the update')
      .option('--revision <n>', 'the revision (default: the latest)')
      .option('--group <name>', 'only the clients the deployment to this group targets')
      .option('--bucket <size>', 'hour or day', 'day')
      .option('--since <when>', 'an ISO time or a duration back from now (default 48h or 30d)')
      .option('--json', 'print JSON')
      .option('--csv', 'print CSV (RFC 4180, a header row), as GET /v1/reports/... ?format=csv'),
  ).action(
    async (
      updateId: string,
      opts: Opts & { revision?: string; group?: string; bucket: string; since?: string },
      cmd: Command,
    ) => {
      const raw = {
        updateId,
        revision: opts.revision,
        group: opts.group,
        bucket: opts.bucket,
        since: opts.since,
      };
      // Only here: the module brings the revisions report's evidence queries (and node:crypto),
      // which the other reports would load for nothing.
      const { parseHistoryQuery, revisionHistory } = await import('../../site/report-history.js');
      const query = parseHistoryQuery(raw);
      const rows = await localOrRemote(
        cmd,
        opts,
        (site) => revisionHistory(site.db, query),
        async (remote) =>
          (await remote.getJson<{ points: HistoryPoint[] }>('/v1/reports/history', raw)).points,
      );
      print(opts, 'revision-history', rows, () =>
        table(
          ['UNTIL', 'REV', 'INSTALLED', 'FAILED', 'PENDING', 'NOT APPLICABLE', 'TARGETED'],
          rows.map((r) => [
            r.at,
            r.revision,
            r.installed,
            r.failed,
            r.pending,
            r.notApplicable,
            r.targeted,
          ]),
        ),
      );
    },
  );

  remoteOptions(
    report
      .command('stale')
      .description('clients not seen for N days')
      .option('--days <n>', 'days without contact', '30')
      .option('--json', 'print JSON')
      .option('--csv', 'print CSV (RFC 4180, a header row), as GET /v1/reports/... ?format=csv'),
  ).action(async (opts: Opts & { days: string }, cmd: Command) => {
    if (!/^\d{1,5}$/.test(opts.days) || Number(opts.days) < 1) {
      throw new UpcatError('invalid_input', '--days: must be a whole number of days, 1 or more');
    }
    const days = Number(opts.days);
    const rows = await localOrRemote(
      cmd,
      opts,
      (site) => site.reports.stale(days),
      async (remote) =>
        (await remote.getJson<{ clients: StaleClient[] }>('/v1/reports/stale', { days })).clients,
    );
    print(opts, 'stale', rows, () =>
      table(
        ['CLIENT', 'NAME', 'HARDWARE ID', 'LAST CONTACT'],
        rows.map((r) => [r.clientId, r.name, r.hardwareId, r.lastContact ?? 'never']),
      ),
    );
  });

  remoteOptions(
    report
      .command('client-install-failures')
      .description(
        'endpoints that reported through the fallback status point that the client failed to install',
      )
      .option('--json', 'print JSON')
      .option('--csv', 'print CSV (RFC 4180, a header row), as GET /v1/reports/... ?format=csv'),
  ).action(async (opts: Opts, cmd: Command) => {
    const rows = await localOrRemote(
      cmd,
      opts,
      (site) => site.reports.clientInstallFailures(),
      async (remote) =>
        (
          await remote.getJson<{ endpoints: ClientInstallFailure[] }>(
            '/v1/reports/client-install-failures',
          )
        ).endpoints,
    );
    print(opts, 'client-install-failures', rows, () =>
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
}

/** A report as a table, JSON or CSV. */
function print<K extends ReportKind>(
  opts: Opts,
  kind: K,
  rows: ReadonlyArray<ReportRow<K>>,
  human: () => string,
): void {
  if (opts.csv === true && opts.json === true)
    throw new UpcatError('invalid_input', '--csv and --json: choose one');
  if (opts.csv === true) process.stdout.write(reportCsv(kind, rows));
  else output(opts.json, rows, human);
}
