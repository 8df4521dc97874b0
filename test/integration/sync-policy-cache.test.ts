import { openSite } from '../../src/app.js';
import { findClient } from '../../src/site/client-repo.js';
import { currentCatalogVersion } from '../../src/storage/catalog-repo.js';
import { computePolicy } from '../../src/sync/policy.js';
import { dbTest, type SiteContext } from '../helpers/site.js';
import { deployOne, eventually, registered, serving, sync } from '../helpers/sync-server.js';

/**
 * The policy shared by a group set at one catalog version (src/sync/policy-cache.ts) and the
 * fast path's answers from it (issue 16): every answer must be what the database path computes
 * for that client now, and every change a client's policy depends on (a deployment, its groups,
 * blocking, a percentage rollout's bucket) must be seen by its very next sync.
 */

/** The update IDs of a client's policy as computed from the database right now. */
async function computed(ctx: SiteContext, secret: string): Promise<string[]> {
  const client = await findClient(ctx.site.db, secret.slice(0, 36));
  if (client === undefined) throw new Error('no such client');
  return (await computePolicy(ctx.site.db, client)).map((e) => e.updateId);
}

const ids = (s: { policy?: { signed: { deployments: Array<{ updateId: string }> } } }): string[] =>
  (s.policy?.signed.deployments ?? []).map((d) => d.updateId);

dbTest(
  'policy cache: a new deployment reaches every client of the group, answered from memory after the first',
  async (t, ctx) => {
    const { server, url, site } = await serving(ctx, 60_000);
    try {
      const secrets = [];
      for (let i = 0; i < 4; i++) secrets.push(await registered(url, { hardwareId: `hw-p${i}` }));
      const anchors = [];
      for (const s of secrets) anchors.push((await sync(url, s)).anchor);
      const updateId = await deployOne(site, 'patch');
      const fromMemory = site.syncFast.policyHits;
      for (const [i, s] of secrets.entries()) {
        const got = await sync(url, s, anchors[i]);
        t.is(got.status, 200);
        t.deepEqual(ids(got), [updateId], 'the incremental document carries the new deployment');
        t.is(got.policy?.signed.clientId, s.slice(0, 36), 'signed for this client');
        t.deepEqual(await computed(ctx, s), [updateId]);
        // Its anchor is current: nothing new.
        t.is((await sync(url, s, got.anchor)).status, 304);
      }
      t.true(
        site.syncFast.policyHits >= fromMemory + 3,
        'after the first client of the group, the others are answered from the cache in memory',
      );
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const full = /^upcat_syncs_total\{result="full",path="memory"\} (\d+)$/m.exec(metrics);
      t.true(Number(full?.[1]) >= 3, '/metrics counts the new policies answered from memory');
    } finally {
      await server.close();
    }
  },
);

dbTest(
  'policy cache: a new deployment is computed before the clients ask, so the first sync is answered from memory too',
  async (t, ctx) => {
    const { server, url, site } = await serving(ctx, 60_000);
    try {
      await site.groups.create('Ring 1', 'test');
      const secrets = [];
      for (let i = 0; i < 3; i++) secrets.push(await registered(url, { hardwareId: `hw-w${i}` }));
      const ringed = await registered(url, { hardwareId: 'hw-w-ring' });
      await site.groups.addClient('Ring 1', ringed.slice(0, 36), 'test');
      secrets.push(ringed);
      // Each client's first sync is remembered with its groups once the watcher has read the
      // membership change (the fast path's entries are only taken from a current state).
      await eventually(
        () => Promise.resolve(site.changes.current()),
        (v) => v !== undefined,
      );
      const anchors = [];
      for (const s of secrets) anchors.push((await sync(url, s)).anchor);
      const all = await deployOne(site, 'everyone');
      const ring = await deployOne(site, 'ring', 'Ring 1');
      const version = await currentCatalogVersion(site.db);
      // Both group sets (none, and Ring 1) are known from the clients' syncs: the server's change
      // watcher sees the new version and computes them without any client asking.
      const ringId = (await site.db('groups').where({ name: 'Ring 1' }).first('id')) as {
        id: number | string;
      };
      const held = await eventually(
        () =>
          Promise.resolve([
            site.sync.policies.held(version, []),
            site.sync.policies.held(version, [Number(ringId.id)]),
          ]),
        (v) => v.every((p) => p !== undefined),
      );
      t.deepEqual(
        held[0]?.entries.map((e) => e.updateId),
        [all],
      );
      t.deepEqual(held[1]?.entries.map((e) => e.updateId).sort(), [all, ring].sort());
      const fromMemory = site.syncFast.policyHits;
      for (const [i, s] of secrets.entries()) {
        const got = await sync(url, s, anchors[i]);
        t.is(got.status, 200);
        t.deepEqual(ids(got).sort(), (await computed(ctx, s)).sort());
      }
      t.is(
        site.syncFast.policyHits,
        fromMemory + 4,
        'every client, the first included, from memory',
      );
    } finally {
      await server.close();
    }
  },
);

dbTest('policy cache: a blocked client is refused at its next sync', async (t, ctx) => {
  const { server, url, site } = await serving(ctx, 60_000);
  try {
    const a = await registered(url, { hardwareId: 'hw-b1' });
    const b = await registered(url, { hardwareId: 'hw-b2' });
    const anchorA = (await sync(url, a)).anchor;
    const anchorB = (await sync(url, b)).anchor;
    await deployOne(site, 'one');
    t.is((await sync(url, b, anchorB)).status, 200, 'the group policy is now cached');
    await site.clients.block(a.slice(0, 36), 'test');
    t.is((await sync(url, a, anchorA)).code, 'client_blocked');
    await deployOne(site, 'two');
    t.is((await sync(url, a, anchorA)).code, 'client_blocked', 'also with a new deployment');
  } finally {
    await server.close();
  }
});

dbTest(
  'policy cache: joining or leaving a group changes the policy at the next sync',
  async (t, ctx) => {
    const { server, url, site } = await serving(ctx, 60_000);
    try {
      await site.groups.create('Ring 1', 'test');
      const inRing = await registered(url, { hardwareId: 'hw-g1' });
      const outside = await registered(url, { hardwareId: 'hw-g2' });
      let anchorIn = (await sync(url, inRing)).anchor;
      let anchorOut = (await sync(url, outside)).anchor;
      const ring = await deployOne(site, 'ring-only', 'Ring 1');
      const all = await deployOne(site, 'everyone');
      const out1 = await sync(url, outside, anchorOut);
      t.deepEqual(ids(out1), [all].sort(), 'not in the ring: only the All Computers deployment');
      anchorOut = out1.anchor;
      const in1 = await sync(url, inRing, anchorIn);
      t.deepEqual(ids(in1), [all], 'same group set, same policy (from the cache)');
      anchorIn = in1.anchor;

      await site.groups.addClient('Ring 1', inRing.slice(0, 36), 'test');
      const joined = await sync(url, inRing, anchorIn);
      t.is(joined.status, 200);
      t.deepEqual(ids(joined), [ring], 'joining the ring adds its deployment');
      t.deepEqual(await computed(ctx, inRing), [all, ring].sort());
      t.is((await sync(url, outside, anchorOut)).status, 304, 'the other client is unchanged');

      await site.groups.removeClient('Ring 1', inRing.slice(0, 36), 'test');
      const left = await sync(url, inRing, joined.anchor);
      t.is(left.status, 200);
      t.deepEqual(left.policy?.signed.removed, [ring], 'leaving removes it');
      t.deepEqual(await computed(ctx, inRing), [all]);
    } finally {
      await server.close();
    }
  },
);

dbTest('policy cache: a percentage rollout is decided per client, never shared', async (t, ctx) => {
  const { server, url, site } = await serving(ctx, 60_000);
  try {
    const secrets = [];
    for (let i = 0; i < 12; i++) secrets.push(await registered(url, { hardwareId: `hw-r${i}` }));
    const anchors = [];
    for (const s of secrets) anchors.push((await sync(url, s)).anchor);
    await deployOne(site, 'half', 'All Computers', 50);
    let inRollout = 0;
    for (const [i, s] of secrets.entries()) {
      const got = await sync(url, s, anchors[i]);
      const expected = await computed(ctx, s);
      if (expected.length === 0) t.true(got.status === 304 || ids(got).length === 0);
      else t.deepEqual(ids(got), expected);
      inRollout += expected.length;
    }
    t.true(inRollout > 0 && inRollout < secrets.length, 'the rollout splits these clients');
  } finally {
    await server.close();
  }
});

dbTest(
  'policy cache: a deployment made by another process is seen within a poll',
  async (t, ctx) => {
    const { server, url } = await serving(ctx);
    const other = await openSite({ home: ctx.home, env: ctx.env, logLevel: 'silent' });
    try {
      const a = await registered(url, { hardwareId: 'hw-o1' });
      const b = await registered(url, { hardwareId: 'hw-o2' });
      const anchorA = (await sync(url, a)).anchor;
      const anchorB = (await sync(url, b)).anchor;
      const first = await deployOne(other, 'first');
      const gotA = await eventually(
        () => sync(url, a, anchorA),
        (r) => r.status === 200,
      );
      t.deepEqual(ids(gotA), [first]);
      const second = await deployOne(other, 'second');
      const gotB = await eventually(
        () => sync(url, b, anchorB),
        (r) => ids(r).includes(second),
      );
      t.deepEqual(ids(gotB), [first, second].sort(), 'never the cached policy of an older catalog');
    } finally {
      await other.close();
      await server.close();
    }
  },
);
