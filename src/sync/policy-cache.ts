import { ALL_COMPUTERS, UNASSIGNED, type ClientRow, type Q } from '../site/client-repo.js';
import { currentCatalogVersion } from '../storage/catalog-repo.js';
import { policyDigest } from './anchor.js';
import {
  computePolicy,
  entryDigest,
  receivesPolicy,
  type PolicyEntry,
  type PolicySubject,
} from './policy.js';

/** A policy with its entries' digests (what an anchor holds), computed once per sharing. */
export interface SharedPolicy {
  entries: PolicyEntry[];
  /** Update ID → entry digest. */
  digests: Record<string, string>;
  /** policyDigest(digests), for anchors that hold the policy as one digest. */
  digest: string;
}

/** The policy of a client that receives none (pending, conflict): the same for all of them. */
export const NO_POLICY: SharedPolicy = Object.freeze({
  entries: [],
  digests: {},
  digest: policyDigest({}),
});

/** Group sets remembered per catalog version; past it the cache starts over. */
const MAX_GROUP_SETS = 10_000;
/** Group sets computed ahead of the clients when the catalog moves (prewarm). */
const PREWARM_MAX = 1_000;

/** Sees each client's named groups as the database path reads them (the sync fast path). */
export interface GroupsObserver {
  /** A change-watcher mark, taken before the read. */
  mark(): number | undefined;
  noted(clientId: string, policyEpoch: number, groupIds: number[], mark: number | undefined): void;
}

/**
 * The policy that every client of the same named groups shares at one catalog version (issue
 * 16). At patch day every endpoint of a group asks for the same new deployment within minutes;
 * computing it costs five statements (the groups' deployments joined to updates and revisions,
 * the builtin groups, maintenance windows, payload files), so it is computed once per group set
 * and catalog version and kept. What still varies per client stays per client: whether it
 * receives policy at all (approval, record state, blocking: checked before the cache), its
 * groups (the key), and a percentage rollout's bucket, which hashes the client ID: a group set
 * with any deployment under 100 % is marked per-client and computed for each request as before.
 *
 * Invalidation is the catalog version, the same counter the 304 path trusts: every change that
 * can alter a policy (deployments, updates, supersedence, payloads, maintenance windows, group
 * deletion) moves it in its transaction, and a newer version empties the cache. Group membership
 * is the caller's: it is read per request on the database path, and the fast path holds it
 * under the clients change counter (membership changes move the client's policy epoch).
 *
 * A computation is kept only when the catalog version read after it equals the one the request
 * was answered at (read before it): then no change committed in between, every statement saw the
 * same catalog, and the result may be shared. Otherwise it serves its own request only.
 */
export class PolicyCache {
  private version = -1;
  private readonly sets = new Map<string, SharedPolicy | 'per-client'>();
  /**
   * Per-client computations (percentage rollouts) at `version`, by policy digest: clients whose
   * buckets give the same policy share one object, which MS-WUSP's answer memo is keyed by.
   */
  private readonly alike = new Map<string, SharedPolicy>();
  /** Computations of a group set's policy running now, by catalog version and set. */
  private readonly inFlight = new Map<
    string,
    Promise<{ computed: SharedPolicy; perClient: boolean; kept: boolean }>
  >();
  /** A client seen in each group set (most recent last), whatever the version: prewarm's list. */
  private readonly samples = new Map<string, { groupIds: number[]; client: PolicySubject }>();
  /** The newest catalog version a prewarm was started for. */
  private prewarming = -1;
  /** Answers given from the cache (for tests and benchmarks). */
  hits = 0;

  /** The policy of a client that receives policy and is in these named groups, when held. */
  held(catalogVersion: number, groupIds: readonly number[]): SharedPolicy | undefined {
    if (catalogVersion !== this.version) return undefined;
    const held = this.sets.get(keyOf(groupIds));
    if (held === undefined || held === 'per-client') return undefined;
    this.hits++;
    return held;
  }

  /**
   * The client's policy at `catalogVersion` (read with the client row): from the cache when held,
   * else computed (and kept when it may be shared). `groupIds`: the client's named groups in ID
   * order when the caller read them with the client (MS-WUSP does); read here otherwise (and
   * shown to `observer`).
   */
  async of(
    q: Q,
    client: PolicySubject & Pick<ClientRow, 'policy_epoch'>,
    catalogVersion: number,
    observer?: GroupsObserver,
    knownGroupIds?: readonly number[],
  ): Promise<SharedPolicy> {
    if (!receivesPolicy(client)) return NO_POLICY;
    const groupIds = knownGroupIds ?? (await this.readGroups(q, client, observer));
    const held = this.held(catalogVersion, groupIds);
    if (held !== undefined) return held;
    const known = catalogVersion === this.version ? this.sets.get(keyOf(groupIds)) : undefined;
    if (known === 'per-client')
      return this.alikeOf(catalogVersion, shared(await computePolicy(q, client, groupIds)));
    // A set not yet known at this version: one computation at a time. On patch day the first
    // clients of a group arrive together (64 at once in bench/patch-day-storm.ts); each computing
    // the same policy made the first of them wait seconds behind 64 x 5 statements.
    const flightKey = `${catalogVersion}|${keyOf(groupIds)}`;
    const inFlight = this.inFlight.get(flightKey);
    if (inFlight === undefined) {
      const flight = this.computeSet(q, client, catalogVersion, groupIds);
      this.inFlight.set(flightKey, flight);
      const own = await flight.finally(() => this.inFlight.delete(flightKey));
      return own.perClient && own.kept ? this.alikeOf(catalogVersion, own.computed) : own.computed;
    }
    const led = await inFlight.catch(() => undefined);
    // Shared only when it was kept (no change committed while it ran) and does not depend on
    // the client ID; otherwise this request computes its own, as it would have alone.
    if (led?.kept === true && !led.perClient) return led.computed;
    const own = shared(await computePolicy(q, client, groupIds));
    return led?.perClient === true ? this.alikeOf(catalogVersion, own) : own;
  }

  /**
   * Computes the policy of a group set at `catalogVersion` and keeps it when no change committed
   * while the statements ran (the version read after equals the one the request was answered at).
   */
  private async computeSet(
    q: Q,
    client: PolicySubject,
    catalogVersion: number,
    groupIds: readonly number[],
  ): Promise<{ computed: SharedPolicy; perClient: boolean; kept: boolean }> {
    const computed = shared(await computePolicy(q, client, groupIds));
    const perClient = await rolloutVaries(q, groupIds);
    const kept = (await currentCatalogVersion(q)) === catalogVersion;
    if (kept) this.keep(catalogVersion, groupIds, perClient ? 'per-client' : computed, client);
    return { computed, perClient, kept };
  }

  /**
   * Computes, ahead of the clients, the policies of the group sets that clients are known to be
   * in (a server calls this whenever its change watcher reports a change; it does nothing unless
   * the catalog version is new, so `known` is only listed then): on patch day
   * every client's first sync after a deployment then finds its group set's policy in memory,
   * and the sync fast path answers it without the database. The sets are `known` (the sync fast
   * path's clients, most common first) and then those this cache kept at older versions, each
   * with a client that receives policy and was seen in it: a shared set's policy does not depend
   * on the client, and a set whose policy does (a percentage rollout) is marked per-client, as on
   * the request path. One set at a time, at most `max`; stops when a newer version arrives (its
   * own prewarm takes over).
   */
  async prewarm(
    q: Q,
    catalogVersion: number,
    known: () =>
      | Promise<Iterable<{ groupIds: readonly number[]; client: PolicySubject }>>
      | Iterable<{ groupIds: readonly number[]; client: PolicySubject }> = () => [],
    max = PREWARM_MAX,
  ): Promise<number> {
    if (catalogVersion <= this.version || catalogVersion <= this.prewarming) return 0;
    this.prewarming = catalogVersion;
    const sets = new Map<string, { groupIds: readonly number[]; client: PolicySubject }>();
    for (const s of [...(await known()), ...[...this.samples.values()].reverse()]) {
      if (sets.size >= max) break;
      if (receivesPolicy(s.client) && !sets.has(keyOf(s.groupIds))) sets.set(keyOf(s.groupIds), s);
    }
    let done = 0;
    for (const { groupIds, client } of sets.values()) {
      if (this.version > catalogVersion || this.prewarming > catalogVersion) break;
      if (catalogVersion !== this.version || !this.sets.has(keyOf(groupIds)))
        await this.of(q, { ...client, policy_epoch: 0 }, catalogVersion, undefined, groupIds);
      done++;
    }
    return done;
  }

  private async readGroups(
    q: Q,
    client: Pick<ClientRow, 'client_id' | 'policy_epoch'>,
    observer: GroupsObserver | undefined,
  ): Promise<number[]> {
    const mark = observer?.mark();
    const groupIds = await namedGroupIds(q, client.client_id);
    observer?.noted(client.client_id, client.policy_epoch, groupIds, mark);
    return groupIds;
  }

  /** The held per-client policy equal to `computed` at the cache's version, else `computed`. */
  private alikeOf(catalogVersion: number, computed: SharedPolicy): SharedPolicy {
    if (catalogVersion !== this.version) return computed;
    const same = this.alike.get(computed.digest);
    if (same !== undefined) return same;
    if (this.alike.size < MAX_GROUP_SETS) this.alike.set(computed.digest, computed);
    return computed;
  }

  private keep(
    catalogVersion: number,
    groupIds: readonly number[],
    value: SharedPolicy | 'per-client',
    client: PolicySubject,
  ): void {
    if (catalogVersion < this.version) return; // a slow request of an older catalog
    // The set's sample outlives the version (prewarm's list); re-set it to make it most recent.
    const key = keyOf(groupIds);
    this.samples.delete(key);
    if (this.samples.size >= MAX_GROUP_SETS) {
      const oldest = this.samples.keys().next();
      if (oldest.done !== true) this.samples.delete(oldest.value);
    }
    const { client_id, approval, record_state, blocked } = client; // not the whole row
    this.samples.set(key, {
      groupIds: [...groupIds],
      client: { client_id, approval, record_state, blocked },
    });
    if (catalogVersion > this.version || this.sets.size >= MAX_GROUP_SETS) {
      this.sets.clear();
      this.alike.clear();
      this.version = catalogVersion;
    }
    this.sets.set(key, value);
  }
}

export function shared(entries: PolicyEntry[]): SharedPolicy {
  const digests = Object.fromEntries(entries.map((e) => [e.updateId, entryDigest(e)]));
  return { entries, digests, digest: policyDigest(digests) };
}

/** The client's named groups, in ID order (the cache key and computePolicy's input). */
export async function namedGroupIds(q: Q, clientId: string): Promise<number[]> {
  const rows = (await q('client_groups')
    .where({ client_id: clientId })
    .select('group_id')) as Array<{
    group_id: number | string;
  }>;
  return rows.map((r) => Number(r.group_id)).sort((a, b) => a - b);
}

function keyOf(groupIds: readonly number[]): string {
  return groupIds.join(',');
}

/**
 * Whether a deployment to these groups (the named ones, All Computers, and Unassigned when there
 * are none) rolls out to a percentage: then the policy depends on the client ID's bucket.
 */
async function rolloutVaries(q: Q, groupIds: readonly number[]): Promise<boolean> {
  const builtin = groupIds.length === 0 ? [ALL_COMPUTERS, UNASSIGNED] : [ALL_COMPUTERS];
  const row = (await q('deployments')
    .where('percent', '<', 100)
    .where((w) => {
      w.whereIn('group_id', [...groupIds]).orWhereIn(
        'group_id',
        q('groups').whereIn('name', builtin).select('id'),
      );
    })
    .first('update_id')) as { update_id: string } | undefined;
  return row !== undefined;
}
