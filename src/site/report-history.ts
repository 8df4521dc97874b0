import { UpcatError } from '../errors.js';
import type { Db } from '../storage/db.js';
import { parseSince } from './duration.js';
import { countedClients, sameInstallRevisions, targetedBy } from './evidence.js';

/**
 * A revision's installed / failed / pending counts over time (issue 14 item 5, the console's
 * charts; `upcat report history`; `GET /v1/reports/history`). Each point is the state at the end
 * of its bucket: per client, the last final state message received by then for the revision (or
 * an earlier one that installs the same thing, as in the revisions report).
 *
 * Who counts is decided as for the revisions report (evidence.ts): the approved, active,
 * unblocked clients that the update's deployments target *now*. Membership is not versioned, so
 * `pending` at a past point is measured against today's targets: it is "of the clients targeted
 * today, how many had not reported a final state by then".
 */
export const BUCKETS = ['hour', 'day'] as const;
export type Bucket = (typeof BUCKETS)[number];

const BUCKET_MS: Readonly<Record<Bucket, number>> = { hour: 3_600_000, day: 86_400_000 };
/** The default window back from now, per bucket size. */
const DEFAULT_SINCE: Readonly<Record<Bucket, string>> = { hour: '48h', day: '30d' };
/** More points than a chart can show, and a bound on the work one request asks for. */
const MAX_POINTS = 1000;

export interface HistoryQuery {
  updateId: string;
  /** Default: the update's latest revision. */
  revision?: number;
  /** Only the clients that the deployment to this group targets. */
  group?: string;
  bucket?: Bucket;
  /** An ISO time or a duration back from now (`7d`); default 48h for hours, 30d for days. */
  since?: string;
}

export interface HistoryPoint {
  updateId: string;
  revision: number;
  /** The end of the bucket (exclusive), ISO 8601 UTC; the last point ends now. */
  at: string;
  /** Installed by the agent, or found installed already. */
  installed: number;
  failed: number;
  /** Targeted, with no final state yet at `at` (not-applicable clients are not pending). */
  pending: number;
  notApplicable: number;
  targeted: number;
}

/** The raw query parameters of GET /v1/reports/history (and the CLI's options), validated. */
export function parseHistoryQuery(raw: Record<string, unknown>): HistoryQuery {
  const allowed = ['updateId', 'revision', 'group', 'bucket', 'since', 'format'];
  for (const [k, v] of Object.entries(raw)) {
    if (!allowed.includes(k)) throw new UpcatError('invalid_input', `${k}: unknown parameter`);
    if (v !== undefined && typeof v !== 'string')
      throw new UpcatError('invalid_input', `${k}: give it once`);
  }
  const s = (k: string): string | undefined => {
    const v = raw[k];
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
  };
  const updateId = s('updateId');
  if (updateId === undefined || !/^[0-9a-fA-F-]{36}$/.test(updateId))
    throw new UpcatError('invalid_input', 'updateId: required, an update ID (GUID)');
  const revisionText = s('revision');
  if (revisionText !== undefined && !/^[1-9]\d{0,8}$/.test(revisionText))
    throw new UpcatError('invalid_input', 'revision: must be a whole number, 1 or more');
  const bucket = s('bucket') ?? 'day';
  if (!(BUCKETS as readonly string[]).includes(bucket))
    throw new UpcatError('invalid_input', 'bucket: must be hour or day');
  const group = s('group');
  if (group !== undefined && group.length > 255)
    throw new UpcatError('invalid_input', 'group: at most 255 characters');
  const since = s('since');
  return {
    updateId: updateId.toLowerCase(),
    ...(revisionText === undefined ? {} : { revision: Number(revisionText) }),
    ...(group === undefined ? {} : { group }),
    bucket: bucket as Bucket,
    ...(since === undefined ? {} : { since }),
  };
}

const FINAL: Readonly<Record<string, 'installed' | 'failed' | 'notApplicable'>> = {
  installed: 'installed',
  already_installed: 'installed',
  failed: 'failed',
  not_applicable: 'notApplicable',
};

export async function revisionHistory(
  db: Db,
  query: HistoryQuery,
  nowMs: number = Date.now(),
): Promise<HistoryPoint[]> {
  const bucket = query.bucket ?? 'day';
  const size = BUCKET_MS[bucket];
  const sinceMs = Date.parse(parseSince(query.since ?? DEFAULT_SINCE[bucket], 'since', nowMs));
  if (sinceMs >= nowMs) throw new UpcatError('invalid_input', 'since: must be in the past');
  const first = Math.floor(sinceMs / size) * size + size;
  const count = Math.ceil((nowMs - first) / size) + 1;
  if (count > MAX_POINTS)
    throw new UpcatError(
      'invalid_input',
      `since: ${count} ${bucket}s is more than ${MAX_POINTS} points; use a later since or bucket=day`,
    );

  const update = (await db('updates')
    .where('update_id', query.updateId)
    .first('update_id', 'latest_revision')) as
    { update_id: string; latest_revision: number } | undefined;
  if (update === undefined)
    throw new UpcatError('not_found', `updateId: no update ${query.updateId}`);
  const revision = query.revision ?? Number(update.latest_revision);
  if (revision > Number(update.latest_revision))
    throw new UpcatError(
      'not_found',
      `revision: update ${query.updateId} has no revision ${revision}`,
    );

  const targeted = await targetsOf(db, query.updateId, query.group);
  const revisions = await sameInstallRevisions(db, query.updateId, revision);
  const messages = (await db('state_messages')
    .where({ update_id: query.updateId, authenticated: true })
    .whereIn('revision_number', revisions)
    .whereIn('state', Object.keys(FINAL))
    .where('received_at', '<', new Date(nowMs).toISOString())
    .orderBy('received_at')
    .orderBy('sent_at')
    .select('client_id', 'state', 'received_at')) as Array<{
    client_id: string;
    state: string;
    received_at: string;
  }>;

  const latest = new Map<string, 'installed' | 'failed' | 'notApplicable'>();
  const points: HistoryPoint[] = [];
  let i = 0;
  for (let n = 0; n < count; n++) {
    const end = Math.min(first + n * size, nowMs);
    const endIso = new Date(end).toISOString();
    for (; i < messages.length && Date.parse(messages[i]?.received_at ?? '') < end; i++) {
      const m = messages[i];
      const final = m === undefined ? undefined : FINAL[m.state];
      if (m !== undefined && final !== undefined && targeted.has(m.client_id))
        latest.set(m.client_id, final);
    }
    const tally = { installed: 0, failed: 0, notApplicable: 0 };
    for (const s of latest.values()) tally[s] += 1;
    points.push({
      updateId: query.updateId,
      revision,
      at: endIso,
      ...tally,
      pending: targeted.size - latest.size,
      targeted: targeted.size,
    });
  }
  return points;
}

/** The counted clients that the update's deployments (or its deployment to `group`) target. */
async function targetsOf(db: Db, updateId: string, group?: string): Promise<Set<string>> {
  const q = db('deployments as d')
    .join('groups as g', 'g.id', 'd.group_id')
    .where('d.update_id', updateId)
    .whereNot('d.action', 'optional')
    .select('d.update_id', 'd.percent', 'd.group_id', 'g.name as group');
  if (group !== undefined) q.where('g.name', group);
  const deployments = (await q) as Array<{
    update_id: string;
    percent: number;
    group_id: number;
    group: string;
  }>;
  if (group !== undefined && deployments.length === 0)
    throw new UpcatError('not_found', `group: update ${updateId} is not deployed to ${group}`);
  const counted = await countedClients(db);
  const out = new Set<string>();
  for (const d of deployments) for (const id of targetedBy(counted, d)) out.add(id);
  return out;
}
