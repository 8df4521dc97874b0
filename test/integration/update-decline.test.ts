import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { Updater } from 'tuf-js';
import type { Site } from '../../src/app.js';
import { UpcatError } from '../../src/errors.js';
import { createApp } from '../../src/server/app.js';
import { startServer } from '../../src/server/serve.js';
import type { SignedPolicy } from '../../src/sync/sync-service.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';

interface SyncBody {
  policy: SignedPolicy;
  anchor: string;
}

async function sync(app: Express, secret: string, anchor?: string): Promise<SyncBody> {
  const res = await request(app)
    .get('/v1/sync')
    .query(anchor === undefined ? {} : { anchor })
    .set('Authorization', `Bearer ${secret}`);
  if (res.status !== 200) throw new Error(`sync: ${res.status} ${res.text}`);
  return res.body as SyncBody;
}

/** A tuf-js client that trusts the site's first root, freshly made (no cached metadata). */
async function tufClient(site: Site, baseUrl: string): Promise<Updater> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-client-'));
  await mkdir(path.join(dir, 'targets'));
  await copyFile(
    path.join(site.signing?.repoDir ?? '', '1.root.json'),
    path.join(dir, 'root.json'),
  );
  const updater = new Updater({
    metadataDir: dir,
    metadataBaseUrl: `${baseUrl}/tuf`,
    targetDir: path.join(dir, 'targets'),
    targetBaseUrl: `${baseUrl}/tuf/targets`,
    config: { fetchRetry: 0, fetchTimeout: 5000 },
  });
  await updater.refresh();
  return updater;
}

dbTest(
  'decline takes an update out of the signed catalog and every policy, refuses new deployments, and undecline puts it back',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    const client = (await register(app, registration())).body as { secret: string };
    const a = await publishBytes(site, 'a1', fileManifest('a.bin', { product: 'A' }), 'a.bin');
    const b = await publishBytes(site, 'b1', fileManifest('b.bin', { product: 'B' }), 'b.bin');
    for (const u of [a, b])
      await site.deployments.approve(
        { updateId: u.updateId, group: 'All Computers', action: 'install' },
        'test',
      );
    const running = await startServer(site, { host: '127.0.0.1', port: 0 });
    t.teardown(() => running.close());
    const url = `http://127.0.0.1:${(running.server.address() as AddressInfo).port}`;
    const before = await sync(app, client.secret);
    t.is(before.policy.signed.deployments.length, 2);
    const version = await site.catalog.catalogVersion();

    const declined = await site.updateAdmin.decline(a.updateId.slice(0, 8), 'test');
    t.deepEqual(declined, {
      updateId: a.updateId,
      state: 'declined',
      catalogVersion: version + 1,
      changed: true,
      deployments: ['All Computers'],
    });
    // The policy drops it (incremental and full), the signed catalog no longer lists it.
    const after = await sync(app, client.secret, before.anchor);
    t.deepEqual(after.policy.signed.removed, [a.updateId]);
    t.deepEqual(
      (await sync(app, client.secret)).policy.signed.deployments.map((d) => d.updateId),
      [b.updateId],
    );
    const tuf = await tufClient(site, url);
    t.is(await tuf.getTargetInfo(`updates/${a.updateId}.xml`), undefined);
    t.is(await tuf.getTargetInfo(`payloads/${a.sha256}`), undefined);
    t.truthy(await tuf.getTargetInfo(`updates/${b.updateId}.xml`));
    // Its deployment stays stored, reported as declined, offering nothing.
    const detail = await site.updateAdmin.show(a.updateId);
    t.like(detail, { status: 'declined' });
    t.regex(detail.declinedAt ?? '', /^\d{4}-\d{2}-\d{2}T/);
    t.like(detail.deployments[0], { group: 'All Computers', offered: false });
    t.like(
      (await site.reports.revisions()).find((r) => r.updateId === a.updateId),
      { status: 'declined', pending: 0 },
    );
    // A deployment of it is refused with a clear error.
    const refused = await t.throwsAsync(
      () =>
        site.deployments.approve(
          { updateId: a.updateId, group: 'All Computers', action: 'optional' },
          'test',
        ),
      { instanceOf: UpcatError },
    );
    t.is(refused?.code, 'conflict');
    t.regex(refused?.message ?? '', /is declined and cannot be deployed/);
    // New revisions too.
    const revised = await t.throwsAsync(
      () =>
        publishBytes(
          site,
          'a2',
          fileManifest('a.bin', { product: 'A', updateId: a.updateId, version: '1.1' }),
          'a.bin',
        ),
      { instanceOf: UpcatError },
    );
    t.is(revised?.code, 'conflict');
    // Twice changes nothing.
    const again = await site.updateAdmin.decline(a.updateId, 'test');
    t.like(again, { changed: false, catalogVersion: version + 1 });

    const undeclined = await site.updateAdmin.undecline(a.updateId, 'test');
    t.like(undeclined, { state: 'active', changed: true, catalogVersion: version + 2 });
    t.deepEqual(
      (await sync(app, client.secret)).policy.signed.deployments.map((d) => d.updateId).sort(),
      [a.updateId, b.updateId].sort(),
    );
    const later = await tufClient(site, url);
    t.truthy(await later.getTargetInfo(`updates/${a.updateId}.xml`));
    t.truthy(await later.getTargetInfo(`payloads/${a.sha256}`));
    t.like(await site.updateAdmin.show(a.updateId), { status: 'live', declinedAt: null });
    t.like(await site.updateAdmin.undecline(a.updateId, 'test'), { changed: false });

    // Each change is one audit row.
    const audit = (await site.audit.list({})).entries.filter(
      (e) => e.target === a.updateId && e.action.endsWith('decline'),
    );
    t.deepEqual(
      audit.map((e) => [e.action, e.actor]),
      [
        ['decline', 'test'],
        ['undecline', 'test'],
      ],
    );
    t.deepEqual(audit[0]?.detail, { deployments: ['All Computers'] });
  },
);

dbTest('an expired update can be neither declined nor undeclined', async (t, { site }) => {
  const a = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
  await site.expire.expire(a.updateId, 'test');
  const version = await site.catalog.catalogVersion();
  for (const change of ['decline', 'undecline'] as const) {
    const err = await t.throwsAsync(() => site.updateAdmin[change](a.updateId, 'test'), {
      instanceOf: UpcatError,
    });
    t.is(err?.code, 'conflict');
    t.regex(err?.message ?? '', /is expired; expiry is final/);
  }
  t.is(await site.catalog.catalogVersion(), version);
  t.is((await site.updateAdmin.show(a.updateId)).status, 'expired');
});
