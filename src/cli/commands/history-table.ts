import type { HistoryEntry } from '../../site/reports.js';
import { table } from './table.js';

/** A client's state messages as `upcat report client` and `upcat clients show` print them. */
export function historyTable(rows: readonly HistoryEntry[]): string {
  return table(
    ['RECEIVED', 'TOPIC', 'UPDATE', 'REV', 'STATE', 'CODE'],
    rows.map((r) => [
      r.receivedAt,
      r.topic,
      r.updateId ?? '-',
      r.revision ?? '-',
      r.state,
      r.code ?? '-',
    ]),
  );
}
