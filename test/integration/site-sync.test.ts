import { createHash, createPublicKey, randomUUID, verify } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { canonicalJson } from '../../src/catalog/canonical-json.js';
import type { Site } from '../../src/app.js';
import { createApp } from '../../src/server/app.js';
import { lockCatalog, nextCatalogVersion, now } from '../../src/storage/catalog-repo.js';
import type { SignedPolicy } from '../../src/sync/sync-service.js';
import { runCli } from '../helpers/cli.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest, makeSite } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

interface SyncBody {
  policy: SignedPolicy;
  anchor: string;
}

async function sync(
  app: Express,
  secret: string,
  anchor?: string,
): Promise<{ status: number; body: SyncBody; headers: Record<string, string> }> {
  const res = await request(app)
    .get('/v1/sync')
    .query(anchor === undefined ? {} : { anchor })
    .set('Authorization', `Bearer ${secret}`);
  return {
    status: res.status,
    body: res.body as SyncBody,
    headers: res.headers as Record<string, string>,
  };
}

async function approvedClient(
  site: Site,
  app: Express,
  over: Record<string, unknown> = {},
): Promise<{ clientId: string; secret: string }> {
  site.config.site.approval = 'auto-all';
  const r = await register(app, registration(over));
  return { clientId: r.body.clientId, secret: r.body.secret };
}

function verifies(site: Site, policy: SignedPolicy, publicHex: string): boolean {
  const key = createPublicKey({
    key: Buffer.concat([
      Buffer.from('302a300506032b6570032100', 'hex'),
      Buffer.from(publicHex, 'hex'),
    ]),
    format: 'der',
    type: 'spki',
  });
  const sig = policy.signatures[0];
  return (
    sig !== undefined &&
    verify(null, Buffer.from(canonicalJson(policy.signed)), key, Buffer.from(sig.sig, 'hex')) &&
    site !== undefined
  );
}

dbTest(
  'sync: signed full policy, 304 when nothing is new, incremental when a deployment lands',
  async (t, { site }) => {
    const app = createApp(site);
    const client = await approvedClient(site, app);
    const a = await publishBytes(
      site,
      'payload-a',
      fileManifest('a.bin', { title: 'A', product: 'A', version: '1.0' }),
      'a.bin',
    );
    await site.deployments.approve(
      {
        updateId: a.updateId,
        group: 'All Computers',
        action: 'install',
        deadline: '2030-01-01T00:00:00Z',
      },
      'test',
    );

    const full = await sync(app, client.secret);
    t.is(full.status, 200);
    const doc = full.body.policy.signed;
    t.true(doc.full);
    t.is(doc.clientId, client.clientId);
    t.is(doc.deployments.length, 1);
    t.like(doc.deployments[0], {
      updateId: a.updateId,
      revision: 1,
      action: 'install',
      deadline: '2030-01-01T00:00:00.000Z',
    });
    t.regex(doc.deployments[0]?.files[0]?.sha256 ?? '', /^[0-9a-f]{64}$/);
    const key = await site.sync.policyKey();
    t.true(verifies(site, full.body.policy, key.keyval.public));
    // A changed byte breaks the signature.
    const forged = { ...full.body.policy, signed: { ...doc, deployments: [] } };
    t.false(verifies(site, forged, key.keyval.public));

    const same = await sync(app, client.secret, full.body.anchor);
    t.is(same.status, 304);

    const b = await publishBytes(
      site,
      'payload-b',
      fileManifest('b.bin', { title: 'B', product: 'B', version: '1.0' }),
      'b.bin',
    );
    await site.deployments.approve(
      { updateId: b.updateId, group: 'All Computers', action: 'optional' },
      'test',
    );
    const inc = await sync(app, client.secret, full.body.anchor);
    t.is(inc.status, 200);
    t.false(inc.body.policy.signed.full);
    t.deepEqual(
      inc.body.policy.signed.deployments.map((d) => d.updateId),
      [b.updateId],
    );
    t.deepEqual(inc.body.policy.signed.removed, []);

    // A catalog change that does not touch this client's policy: 304, with a fresher anchor.
    await publishBytes(
      site,
      'payload-c',
      fileManifest('c.bin', { title: 'C', product: 'C', version: '1.0' }),
      'c.bin',
    );
    const unrelated = await sync(app, client.secret, inc.body.anchor);
    t.is(unrelated.status, 304);
    t.truthy(unrelated.headers['x-upcat-anchor']);
    t.is((await sync(app, client.secret, unrelated.headers['x-upcat-anchor'])).status, 304);
  },
);

dbTest('expired and superseded updates leave policy', async (t, { site }) => {
  const app = createApp(site);
  const client = await approvedClient(site, app);
  const a = await publishBytes(
    site,
    'a1',
    fileManifest('a.bin', { title: 'A', product: 'A', version: '1.0' }),
    'a.bin',
  );
  const b = await publishBytes(
    site,
    'b1',
    fileManifest('b.bin', { title: 'B', product: 'B', version: '1.0' }),
    'b.bin',
  );
  for (const u of [a, b])
    await site.deployments.approve(
      { updateId: u.updateId, group: 'All Computers', action: 'install' },
      'test',
    );
  const first = await sync(app, client.secret);
  t.is(first.body.policy.signed.deployments.length, 2);

  await site.expire.expire(a.updateId, 'test');
  const afterExpire = await sync(app, client.secret, first.body.anchor);
  t.deepEqual(afterExpire.body.policy.signed.removed, [a.updateId]);
  t.deepEqual(afterExpire.body.policy.signed.deployments, []);

  await publishBytes(
    site,
    'b2',
    fileManifest('b2.bin', { title: 'B2', product: 'B', version: '2.0', supersedes: [b.updateId] }),
    'b2.bin',
  );
  const afterSupersede = await sync(app, client.secret, afterExpire.body.anchor);
  t.deepEqual(afterSupersede.body.policy.signed.removed, [b.updateId]);
  const fresh = await sync(app, client.secret);
  t.deepEqual(fresh.body.policy.signed.deployments, []);
  // Neither can be deployed again.
  const err = await t.throwsAsync(
    site.deployments.approve(
      { updateId: a.updateId, group: 'All Computers', action: 'install' },
      'test',
    ),
  );
  t.is((err as { code?: string }).code, 'conflict');
});

dbTest(
  'tampered, foreign, other-client and garbage anchors give a full sync, never an error',
  async (t, { site, kind }) => {
    const app = createApp(site);
    const client = await approvedClient(site, app);
    const other = await approvedClient(site, app, { hardwareId: 'hw-other' });
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    await site.deployments.approve(
      { updateId: a.updateId, group: 'All Computers', action: 'install' },
      'test',
    );
    const { anchor } = (await sync(app, client.secret)).body;
    const theirs = (await sync(app, other.secret)).body.anchor;

    const flipped = anchor.slice(0, 10) + (anchor[10] === 'A' ? 'B' : 'A') + anchor.slice(11);
    const foreignSite = await makeSite(kind);
    let foreign: string;
    try {
      const foreignApp = createApp(foreignSite.site);
      const fc = await approvedClient(foreignSite.site, foreignApp);
      foreign = (await sync(foreignApp, fc.secret)).body.anchor;
    } finally {
      await foreignSite.cleanup();
    }
    for (const bad of [
      flipped,
      foreign,
      theirs,
      'garbage',
      'a1.',
      `a1.${'A'.repeat(100)}`,
      `a1.${'x'.repeat(10_000)}`,
    ]) {
      const res = await sync(app, client.secret, bad);
      t.is(res.status, 200, bad.slice(0, 20));
      t.true(res.body.policy.signed.full);
      t.is(res.body.policy.signed.deployments.length, 1);
    }
  },
);

dbTest(
  'pending clients get no deployments; approval gives a full policy at the next sync',
  async (t, { site }) => {
    const app = createApp(site);
    const r = await register(app, registration());
    t.is(r.body.status, 'pending');
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    await site.deployments.approve(
      { updateId: a.updateId, group: 'All Computers', action: 'install' },
      'test',
    );
    const pending = await sync(app, r.body.secret);
    t.is(pending.body.policy.signed.status, 'pending');
    t.deepEqual(pending.body.policy.signed.deployments, []);
    t.is((await sync(app, r.body.secret, pending.body.anchor)).status, 304);
    await site.clients.approve(r.body.clientId, 'test');
    const approved = await sync(app, r.body.secret, pending.body.anchor);
    t.is(approved.status, 200);
    t.is(approved.body.policy.signed.status, 'approved');
    t.is(approved.body.policy.signed.deployments.length, 1);
  },
);

dbTest(
  'groups: deployments reach members only; client-side targeting joins the named group',
  async (t, { site }) => {
    const app = createApp(site);
    await site.groups.create('Ring 1', 'test');
    const member = await approvedClient(site, app, { group: 'Ring 1' });
    const outsider = await approvedClient(site, app, { hardwareId: 'hw-out' });
    const assigned = await approvedClient(site, app, { hardwareId: 'hw-assigned' });
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    await site.deployments.approve(
      { updateId: a.updateId, group: 'Ring 1', action: 'install' },
      'test',
    );
    const u = await publishBytes(
      site,
      'u1',
      fileManifest('u.bin', { product: 'U', title: 'U' }),
      'u.bin',
    );
    await site.deployments.approve(
      { updateId: u.updateId, group: 'Unassigned', action: 'optional' },
      'test',
    );

    t.deepEqual(
      (await sync(app, member.secret)).body.policy.signed.deployments.map((d) => d.updateId),
      [a.updateId],
    );
    t.deepEqual(
      (await sync(app, outsider.secret)).body.policy.signed.deployments.map((d) => d.updateId),
      [u.updateId],
    );
    const before = await sync(app, assigned.secret);
    await site.groups.addClient('Ring 1', assigned.clientId, 'test');
    const after = await sync(app, assigned.secret, before.body.anchor);
    t.deepEqual(
      after.body.policy.signed.deployments.map((d) => d.updateId),
      [a.updateId],
    );
    t.deepEqual(after.body.policy.signed.removed, [u.updateId]);
    const groups = await site.groups.list();
    t.like(
      groups.find((g) => g.name === 'Ring 1'),
      { members: 2, builtin: false },
    );
    t.like(
      groups.find((g) => g.name === 'All Computers'),
      { members: 3, builtin: true },
    );
    t.like(
      groups.find((g) => g.name === 'Unassigned'),
      { members: 1 },
    );
  },
);

dbTest(
  'percentage rollout: widening never drops a client that was already in',
  async (t, { site }) => {
    const app = createApp(site);
    const clients = await Promise.all(
      Array.from({ length: 60 }, (_, i) => approvedClient(site, app, { hardwareId: `hw-${i}` })),
    );
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    let previous = new Set<string>();
    for (const percent of [10, 30, 60, 100]) {
      await site.deployments.approve(
        { updateId: a.updateId, group: 'All Computers', action: 'install', percent },
        'test',
      );
      const inNow = new Set<string>();
      for (const c of clients) {
        if ((await sync(app, c.secret)).body.policy.signed.deployments.length === 1)
          inNow.add(c.clientId);
      }
      for (const id of previous) t.true(inNow.has(id), `${id} stays in at ${percent}%`);
      t.true(inNow.size >= previous.size);
      previous = inNow;
    }
    t.is(previous.size, 60);
  },
);

dbTest('bad deployments are coded errors naming the field', async (t, { site }) => {
  const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ updateId: a.updateId, group: 'Nope', action: 'install' }, 'not_found', /group/],
    [
      {
        updateId: '00000000-0000-0000-0000-000000000000',
        group: 'All Computers',
        action: 'install',
      },
      'not_found',
      /updateId/,
    ],
    [
      { updateId: a.updateId, group: 'All Computers', action: 'explode' },
      'invalid_input',
      /action/,
    ],
    [
      { updateId: a.updateId, group: 'All Computers', action: 'install', percent: 0 },
      'invalid_input',
      /percent/,
    ],
    [
      { updateId: a.updateId, group: 'All Computers', action: 'install', deadline: 'tomorrow' },
      'invalid_input',
      /deadline/,
    ],
  ];
  for (const [input, code, field] of cases) {
    const err = await t.throwsAsync(site.deployments.approve(input, 'test'));
    t.is((err as { code?: string }).code, code);
    t.regex(err?.message ?? '', field);
  }
  const res = await request(createApp(site))
    .post('/v1/deployments')
    .set('Authorization', await bearer(site, 'approve'))
    .send({ updateId: a.updateId, group: 'All Computers', action: 'install', percent: 50 });
  t.is(res.status, 201);
  t.is(res.body.percent, 50);
});

dbTest(
  'the anchor and policy keys are kept in signing/sync with mode 0600',
  async (t, { site }) => {
    const { stat } = await import('node:fs/promises');
    const path = await import('node:path');
    await site.sync.policyKey();
    for (const name of ['anchor.key', 'policy-key.json']) {
      const s = await stat(path.join(site.config.dirs.signing, 'sync', name));
      t.is(s.mode & 0o777, 0o600, name);
    }
  },
);

/**
 * `n` published updates deployed to All Computers in one catalog version: rows written as the
 * publish and approve transactions write them (a fixture: 500 real publishes would dominate the
 * test's time), so that policy is computed from them like any other.
 */
async function seedDeployments(site: Site, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, () => randomUUID());
  await site.db.transaction(async (trx) => {
    await lockCatalog(trx);
    const version = await nextCatalogVersion(trx, { reason: 'approve', actor: 'test' });
    const group = (await trx('groups').where({ name: 'All Computers' }).first('id')) as {
      id: number;
    };
    for (const [i, updateId] of ids.entries()) {
      const sha256 = createHash('sha256').update(updateId).digest('hex');
      const sha1 = createHash('sha1').update(updateId).digest('hex');
      await trx('blobs').insert({ sha256, sha1, size: 10, created_at: now() });
      await trx('updates').insert({
        update_id: updateId,
        product: `Seeded ${i}`,
        classification: 'Updates',
        state: 'active',
        created_at: now(),
        latest_revision: 1,
      });
      const [revision] = (await trx('revisions')
        .insert({
          update_id: updateId,
          revision_number: 1,
          title: `Seeded ${i}`,
          description: '',
          product: `Seeded ${i}`,
          classification: 'Updates',
          version: '1.0',
          handler: JSON.stringify({ type: 'commandLine', program: 'tool.bin' }),
          content_key: sha256,
          catalog_version: version,
          created_at: now(),
        })
        .returning('id')) as Array<{ id: number } | number>;
      const revisionId = typeof revision === 'object' ? revision.id : revision;
      await trx('files').insert({
        revision_id: revisionId,
        name: 'tool.bin',
        sha256,
        sha1,
        size: 10,
        kind: 'file',
      });
      await trx('deployments').insert({
        update_id: updateId,
        group_id: group.id,
        action: 'install',
        deadline: null,
        percent: 100,
        catalog_version: version,
        created_at: now(),
      });
    }
  });
  return ids;
}

dbTest(
  'a policy of 500 deployments: a small anchor, 304 when unchanged, the change when one lands',
  async (t, { site }) => {
    const app = createApp(site);
    const client = await approvedClient(site, app);
    const ids = await seedDeployments(site, 500);

    const first = await sync(app, client.secret);
    t.is(first.status, 200);
    t.true(first.body.policy.signed.full);
    t.is(first.body.policy.signed.deployments.length, 500);
    // The anchor rides in the URL: it stays small whatever the policy's size.
    t.true(first.body.anchor.length < 512, `anchor of ${first.body.anchor.length} characters`);

    // Nothing new: 304 (the nothing-new test), and again after an unrelated catalog change.
    t.is((await sync(app, client.secret, first.body.anchor)).status, 304);
    await publishBytes(
      site,
      'unrelated',
      fileManifest('u.bin', { title: 'U', product: 'U', version: '1.0' }),
      'u.bin',
    );
    const unrelated = await sync(app, client.secret, first.body.anchor);
    t.is(unrelated.status, 304);
    const fresher = unrelated.headers['x-upcat-anchor'] ?? '';
    t.true(fresher.length > 0 && fresher.length < 512);
    t.is((await sync(app, client.secret, fresher)).status, 304);

    // A change: the policy again, whole (the anchor holds only its digest), with the change in it.
    const target = ids[123] ?? '';
    await site.deployments.approve(
      {
        updateId: target,
        group: 'All Computers',
        action: 'optional',
        deadline: '2031-05-01T00:00:00Z',
      },
      'test',
    );
    const changed = await sync(app, client.secret, fresher);
    t.is(changed.status, 200);
    const doc = changed.body.policy.signed;
    t.true(doc.full);
    t.is(doc.deployments.length, 500);
    t.like(
      doc.deployments.find((d) => d.updateId === target),
      { action: 'optional', deadline: '2031-05-01T00:00:00.000Z' },
    );
    t.is((await sync(app, client.secret, changed.body.anchor)).status, 304);

    // An update that leaves: the whole policy without it.
    await site.expire.expire(ids[7] ?? '', 'test');
    const shrunk = await sync(app, client.secret, changed.body.anchor);
    t.is(shrunk.status, 200);
    t.is(shrunk.body.policy.signed.deployments.length, 499);
    t.false(shrunk.body.policy.signed.deployments.some((d) => d.updateId === ids[7]));
  },
);

dbTest(
  'an anchor that names its entries answers a growth past the budget incrementally',
  async (t, { site }) => {
    const app = createApp(site);
    const client = await approvedClient(site, app);
    const few = await seedDeployments(site, 3);
    const first = await sync(app, client.secret);
    t.is(first.body.policy.signed.deployments.length, 3);
    const many = await seedDeployments(site, 200);
    const grown = await sync(app, client.secret, first.body.anchor);
    t.is(grown.status, 200);
    t.false(grown.body.policy.signed.full);
    t.deepEqual(
      grown.body.policy.signed.deployments.map((d) => d.updateId),
      [...many].sort(),
    );
    t.is((await sync(app, client.secret, grown.body.anchor)).status, 304);
    t.true(few.length === 3 && grown.body.anchor.length < 512);
  },
);

dbTest(
  'upcat approve --deadline 2030-01-01: a date is midnight UTC (CLI and POST /v1/deployments)',
  async (t, { site, env }) => {
    const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    const cli = await runCli(
      [
        'approve',
        a.updateId,
        '--group',
        'All Computers',
        '--action',
        'install',
        '--deadline',
        '2030-01-01',
        '--json',
      ],
      env,
    );
    t.is(cli.code, 0, cli.stderr);
    t.like(JSON.parse(cli.stdout), { updateId: a.updateId, deadline: '2030-01-01T00:00:00.000Z' });
    const res = await request(createApp(site))
      .post('/v1/deployments')
      .set('Authorization', await bearer(site, 'approve'))
      .send({
        updateId: a.updateId,
        group: 'All Computers',
        action: 'install',
        deadline: '2030-06-01T08:00+02:00',
      });
    t.is(res.status, 201);
    t.is(res.body.deadline, '2030-06-01T06:00:00.000Z');
    const noZone = await runCli(
      [
        'approve',
        a.updateId,
        '--group',
        'All Computers',
        '--action',
        'install',
        '--deadline',
        '2030-01-01T08:00',
      ],
      env,
    );
    t.not(noZone.code, 0);
    t.regex(noZone.stderr, /^upcat: .*deadline: must be an ISO-8601 date .*\n$/);
  },
);
