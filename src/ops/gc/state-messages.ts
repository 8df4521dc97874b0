import type { Knex } from 'knex';
import type { Db } from '../../storage/db.js';

/** Messages rolled up per transaction. */
const BATCH = 2000;

interface MessageRow {
  message_id: string;
  client_id: string | null;
  topic: string;
  update_id: string | null;
  revision_number: number | null;
  state: string;
  received_at: string;
}

export interface RolledUp {
  /** State messages deleted after being counted. */
  messages: number;
  /** Rollup rows written or moved. */
  rollups: number;
}

/**
 * State messages older than `retention.stateMessageDays` are rolled up (issue 13 item 3): each is
 * counted into `state_message_rollups` (one row per client, topic, update, revision and state:
 * how many, first and last received) and deleted, in one transaction per batch, so a kill leaves
 * every message either counted or still there. The newest message of each client, topic, update
 * and revision is never rolled up: reports and promotion read a client's current state from it.
 */
export async function rollUpStateMessages(
  db: Db,
  cutoffIso: string,
  dryRun: boolean,
): Promise<RolledUp> {
  const out: RolledUp = { messages: 0, rollups: 0 };
  for (;;) {
    const done = await db.transaction(async (trx) => {
      const rows = await oldMessages(trx, cutoffIso);
      if (rows.length === 0) return true;
      const groups = new Map<
        string,
        { row: MessageRow; count: number; first: string; last: string }
      >();
      for (const row of rows) {
        const key = rollupKey(row);
        const g = groups.get(key);
        if (g === undefined)
          groups.set(key, { row, count: 1, first: row.received_at, last: row.received_at });
        else {
          g.count += 1;
          if (row.received_at < g.first) g.first = row.received_at;
          if (row.received_at > g.last) g.last = row.received_at;
        }
      }
      out.messages += rows.length;
      out.rollups += groups.size;
      if (dryRun) return true; // one batch is enough to say how much there is to do
      const keys = [...groups.keys()];
      const existing = new Map(
        (
          (await trx('state_message_rollups')
            .whereIn('rollup_key', keys)
            .select('rollup_key', 'count', 'first_received_at', 'last_received_at')) as Array<{
            rollup_key: string;
            count: number | string;
            first_received_at: string;
            last_received_at: string;
          }>
        ).map((r) => [r.rollup_key, r]),
      );
      for (const [key, g] of groups) {
        const had = existing.get(key);
        if (had === undefined) {
          await trx('state_message_rollups').insert({
            rollup_key: key,
            client_id: g.row.client_id,
            topic: g.row.topic,
            update_id: g.row.update_id,
            revision_number: g.row.revision_number,
            state: g.row.state,
            count: g.count,
            first_received_at: g.first,
            last_received_at: g.last,
          });
        } else {
          await trx('state_message_rollups')
            .where({ rollup_key: key })
            .update({
              count: Number(had.count) + g.count,
              first_received_at: had.first_received_at < g.first ? had.first_received_at : g.first,
              last_received_at: had.last_received_at > g.last ? had.last_received_at : g.last,
            });
        }
      }
      await trx('state_messages')
        .whereIn(
          'message_id',
          rows.map((r) => r.message_id),
        )
        .delete();
      return rows.length < BATCH;
    });
    if (done) return out;
  }
}

/** Old messages that a newer message of the same client, topic, update and revision follows. */
async function oldMessages(trx: Knex.Transaction, cutoffIso: string): Promise<MessageRow[]> {
  return (await trx('state_messages as m')
    .where('m.received_at', '<', cutoffIso)
    .whereExists(function newer() {
      this.select(trx.raw('1'))
        .from('state_messages as n')
        .whereRaw("coalesce(n.client_id, '') = coalesce(m.client_id, '')")
        .andWhereRaw('n.topic = m.topic')
        .andWhereRaw("coalesce(n.update_id, '') = coalesce(m.update_id, '')")
        .andWhereRaw('coalesce(n.revision_number, -1) = coalesce(m.revision_number, -1)')
        .andWhere((q) =>
          q
            .whereRaw('n.received_at > m.received_at')
            .orWhereRaw('(n.received_at = m.received_at and n.message_id > m.message_id)'),
        );
    })
    .orderBy('m.received_at')
    .limit(BATCH)
    .select(
      'm.message_id',
      'm.client_id',
      'm.topic',
      'm.update_id',
      'm.revision_number',
      'm.state',
      'm.received_at',
    )) as MessageRow[];
}

function rollupKey(r: MessageRow): string {
  return [r.client_id ?? '', r.topic, r.update_id ?? '', r.revision_number ?? '', r.state].join(
    '|',
  );
}
