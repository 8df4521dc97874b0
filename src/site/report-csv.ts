import { fieldColumns, toCsv, type CsvColumn } from './csv.js';
import type { HistoryPoint } from './report-history.js';
import type { ClientInstallFailure, HistoryEntry, RevisionReport, StaleClient } from './reports.js';

/**
 * The CSV form of each report of `upcat report` and `GET /v1/reports/...` (issue 14 items 1 and
 * 3): its columns are the JSON answer's fields, in the same order. The server and the CLI (local
 * or with --server, where it renders the JSON answer) write it with these, so the bytes agree.
 */
export const REPORT_COLUMNS = {
  revisions: fieldColumns<RevisionReport>([
    'updateId',
    'revision',
    'group',
    'title',
    'status',
    'installed',
    'alreadyInstalled',
    'uninstalled',
    'failed',
    'pending',
    'notApplicable',
  ]),
  history: fieldColumns<HistoryEntry>([
    'receivedAt',
    'sentAt',
    'topic',
    'updateId',
    'revision',
    'state',
    'code',
    'detail',
    'messageId',
  ]),
  stale: fieldColumns<StaleClient>(['clientId', 'name', 'hardwareId', 'lastContact']),
  'client-install-failures': fieldColumns<ClientInstallFailure>([
    'hardwareId',
    'name',
    'source',
    'code',
    'detail',
    'failures',
    'lastAt',
  ]),
  'revision-history': fieldColumns<HistoryPoint>([
    'at',
    'updateId',
    'revision',
    'installed',
    'failed',
    'pending',
    'notApplicable',
    'targeted',
  ]),
} as const;

export type ReportKind = keyof typeof REPORT_COLUMNS;

/** The row type of a report kind. */
export type ReportRow<K extends ReportKind> = Parameters<
  (typeof REPORT_COLUMNS)[K][number]['value']
>[0];

export function reportCsv<K extends ReportKind>(
  kind: K,
  rows: ReadonlyArray<ReportRow<K>>,
): string {
  return toCsv(REPORT_COLUMNS[kind] as ReadonlyArray<CsvColumn<ReportRow<K>>>, rows);
}
