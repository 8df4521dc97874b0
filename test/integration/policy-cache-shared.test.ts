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
