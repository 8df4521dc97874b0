import type { Request, Response } from 'express';
import { UpcatError } from '../errors.js';
import { reportCsv, type ReportKind, type ReportRow } from '../site/report-csv.js';

/**
 * Whether a report request asks for CSV: `?format=csv` (or `json`) decides; otherwise the
 * `Accept` header does, JSON first, so `*\/*` and no header keep today's JSON answer.
 */
export function wantsCsv(req: Request): boolean {
  const format = req.query['format'];
  if (format !== undefined) {
    if (format === 'csv') return true;
    if (format === 'json') return false;
    throw new UpcatError('invalid_input', 'format: must be csv or json');
  }
  return req.accepts(['application/json', 'text/csv']) === 'text/csv';
}

/**
 * A report as `{<key>: rows}` JSON, or as CSV with a file name (RFC 6266) when asked for it
 * (issue 14 item 1). Reports change with every state message: never cached.
 */
export function sendReport<K extends ReportKind>(
  req: Request,
  res: Response,
  kind: K,
  key: string,
  rows: ReadonlyArray<ReportRow<K>>,
): void {
  res.set('Cache-Control', 'no-store').vary('Accept');
  if (!wantsCsv(req)) {
    res.json({ [key]: rows });
    return;
  }
  res
    .type('text/csv; charset=utf-8; header=present')
    .set('Content-Disposition', `attachment; filename="upcat-${kind}.csv"`)
    .send(reportCsv(kind, rows));
}
