/**
 * One policy cache (issue 16): MS-WUSP asks sync/policy-cache.ts with the groups it read with
 * the computer's record. Computers of one group set share one policy object (WUSP's answer memo
 * is keyed by it); under a percentage rollout each computer's policy is its own bucket's, and
 * equal ones are still one object; every answer equals what the database path computes now.
 */
import { findClient } from '../../src/site/client-repo.js';
import { currentCatalogVersion } from '../../src/storage/catalog-repo.js';
import { PolicyCache, type SharedPolicy } from '../../src/sync/policy-cache.js';
import { computePolicy } from '../../src/sync/policy.js';
import type { Site } from '../../src/app.js';
import { registration } from '../helpers/clients.js';
import { dbTest } from '../helpers/site.js';
import { deployOne } from '../helpers/sync-server.js';

async function approvedClients(site: Site, n: number, prefix: string): Promise<string[]> {
  site.config.site.approval = 'auto-all';
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const answer = await site.registration.register(registration({ hardwareId: `${prefix}${i}` }));
    ids.push(answer.clientId);
  }
  return ids;
}

async function row(site: Site, clientId: string) {
  const client = await findClient(site.db, clientId);
  if (client === undefined) throw new Error(`no client ${clientId}`);
  return client;
}

dbTest(
  'policy cache with known groups: one object per group set, equal to the database path',
  async (t, { site }) => {
    const ids = await approvedClients(site, 4, 'hw-s');
    const updateId = await deployOne(site, 'shared');
    const cache = new PolicyCache();
    const version = await currentCatalogVersion(site.db);
    const got: SharedPolicy[] = [];
    for (const id of ids)
      got.push(await cache.of(site.db, await row(site, id), version, undefined, []));
    t.deepEqual(
      got[0]?.entries.map((e) => e.updateId),
      [updateId],
    );
    t.true(
      got.every((p) => p === got[0]),
      'one object for the group set',
    );
    t.is(cache.hits, 3);
    const later = await deployOne(site, 'later');
    const next = await cache.of(
      site.db,
      await row(site, ids[0] ?? ''),
      await currentCatalogVersion(site.db),
      undefined,
      [],
    );
    t.deepEqual(
      next.entries.map((e) => e.updateId).sort(),
      [updateId, later].sort(),
      'a new catalog version is computed again',
    );
  },
);

dbTest(
  'policy cache with known groups: a percentage rollout is per client, equal policies one object',
  async (t, { site }) => {
    const ids = await approvedClients(site, 24, 'hw-r');
    await deployOne(site, 'half', 'All Computers', 50);
    const cache = new PolicyCache();
    const version = await currentCatalogVersion(site.db);
    const byDigest = new Map<string, SharedPolicy>();
    let withUpdate = 0;
    for (const id of ids) {
      const client = await row(site, id);
      const policy = await cache.of(site.db, client, version, undefined, []);
      const expected = (await computePolicy(site.db, client, [])).map((e) => e.updateId);
      t.deepEqual(
        policy.entries.map((e) => e.updateId),
        expected,
        'what the database path computes',
      );
      if (expected.length > 0) withUpdate++;
      const seen = byDigest.get(policy.digest);
      if (seen === undefined) byDigest.set(policy.digest, policy);
      else t.is(policy, seen, 'equal per-client policies are one object');
    }
    t.true(
      withUpdate > 0 && withUpdate < ids.length,
      `${withUpdate} of ${ids.length} in the rollout`,
    );
    t.is(byDigest.size, 2);
  },
);

/** Counts the statements that read deployments (one per policy computation) while `run` runs. */
async function deploymentReads<T>(site: Site, run: () => Promise<T>): Promise<[T, number]> {
  let n = 0;
  const count = (q: { sql: string }): void => {
    if (/from [`"]deployments[`"] as [`"]d[`"]/i.test(q.sql)) n++;
  };
  site.db.on('query', count);
  try {
    return [await run(), n];
  } finally {
    site.db.off('query', count);
  }
}

dbTest(
  'policy cache: clients of one group set asking at once share one computation',
  async (t, { site }) => {
    const ids = await approvedClients(site, 16, 'hw-c');
    const updateId = await deployOne(site, 'together');
    const cache = new PolicyCache();
    const version = await currentCatalogVersion(site.db);
    const rows = await Promise.all(ids.map((id) => row(site, id)));
    const [got, reads] = await deploymentReads(site, () =>
      Promise.all(rows.map((r) => cache.of(site.db, r, version, undefined, []))),
    );
    t.is(reads, 1, 'one computation for sixteen concurrent clients');
    t.true(got.every((p) => p === got[0] && p.entries[0]?.updateId === updateId));
  },
);

dbTest(
  'policy cache: concurrent clients under a percentage rollout each get their own bucket',
  async (t, { site }) => {
    const ids = await approvedClients(site, 24, 'hw-q');
    await deployOne(site, 'half', 'All Computers', 50);
    const cache = new PolicyCache();
    const version = await currentCatalogVersion(site.db);
    const rows = await Promise.all(ids.map((id) => row(site, id)));
    const got = await Promise.all(rows.map((r) => cache.of(site.db, r, version, undefined, [])));
    let inRollout = 0;
    for (const [i, r] of rows.entries()) {
      const expected = (await computePolicy(site.db, r, [])).map((e) => e.updateId);
      t.deepEqual(
        got[i]?.entries.map((e) => e.updateId),
        expected,
      );
      if (expected.length > 0) inRollout++;
    }
    t.true(inRollout > 0 && inRollout < ids.length, `${inRollout} of 24 in a 50 % rollout`);
  },
);

dbTest(
  'policy cache: prewarm computes the known group sets at a new catalog version, and only then',
  async (t, { site }) => {
    const ids = await approvedClients(site, 2, 'hw-p');
    const first = await deployOne(site, 'first');
    const cache = new PolicyCache();
    const client = await row(site, ids[0] ?? '');
    await cache.of(site.db, client, await currentCatalogVersion(site.db), undefined, []);
    const second = await deployOne(site, 'second');
    const version = await currentCatalogVersion(site.db);
    t.is(cache.held(version, []), undefined, 'not computed before prewarm');
    t.is(await cache.prewarm(site.db, version), 1, 'the one set seen at the older version');
    t.deepEqual(
      cache
        .held(version, [])
        ?.entries.map((e) => e.updateId)
        .sort(),
      [first, second].sort(),
    );
    t.is(await cache.prewarm(site.db, version), 0, 'a version already prewarmed is not again');
    // A set known only from the caller (the sync fast path's clients), under a percentage rollout:
    // marked per client, never shared.
    await site.groups.create('Ring 9', 'test');
    const ring = (await site.db('groups').where({ name: 'Ring 9' }).first('id')) as {
      id: number | string;
    };
    await deployOne(site, 'ring-half', 'Ring 9', 50);
    const next = await currentCatalogVersion(site.db);
    const ringSet = [Number(ring.id)];
    t.is(
      await cache.prewarm(site.db, next, () => [{ groupIds: ringSet, client }]),
      2,
      'the caller’s set and the one seen before',
    );
    t.is(cache.held(next, ringSet), undefined, 'a percentage rollout is not shared');
    t.truthy(cache.held(next, []), 'the set without the rollout is');
  },
);
