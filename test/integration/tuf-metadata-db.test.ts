import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { Updater } from 'tuf-js';
import { openSite, type Site } from '../../src/app.js';
import { CONFIG_FILE } from '../../src/config/load.js';
import { createApp } from '../../src/server/app.js';
import { takeBackup } from '../../src/ops/backup.js';
import { restoreBackup } from '../../src/ops/restore.js';
import { collectMetadata } from '../../src/ops/gc/tuf-metadata.js';
import { rotateKey } from '../../src/signing/rotate.js';
import { TufRefresher } from '../../src/signing/tuf-refresh-lease.js';
import { publishTargets, tufRepoDir } from '../../src/signing/tuf-repo.js';
import { migrateMetadata } from '../../src/signing/tuf-migrate.js';
import { DatabaseMetadataStore } from '../../src/signing/tuf-store-db.js';
import type { MetadataIO, MetadataStore } from '../../src/signing/tuf-store.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { DATABASES, dropSchema, sharedSigningDir, siteEnv, type DbKind } from '../helpers/site.js';

/** How often the second node polls the rows; the test waits for what the poll brings. */
const POLL_MS = 50;

interface Node {
  site: Site;
  url: string;
  home: string;
}

/**
 * A site with `storage.metadata: database`. A second node of the same site (`of`) has a home
 * of its own (no shared file system) and the same keys and database; on SQLite it must share
 * the first node's database file, so its catalog directory points there.
 */
async function openNode(
  t: ExecutionContext,
  kind: DbKind,
  of?: { env: NodeJS.ProcessEnv; home: string },
  metadata: 'database' | 'files' = 'database',
): Promise<Node & { env: NodeJS.ProcessEnv }> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-tufdb-'));
  const env = of === undefined ? siteEnv(kind, home) : { ...of.env, UPCAT_HOME: home };
  if (of !== undefined && kind === 'sqlite')
    env['UPCAT_CATALOG_DIR'] = path.join(of.home, 'catalog');
  await cp(await sharedSigningDir(), path.join(home, 'signing'), { recursive: true });
  await writeFile(
    path.join(home, CONFIG_FILE),
    JSON.stringify({ storage: { metadata }, server: { changePollMs: POLL_MS } }),
  );
  // Teardowns run in reverse order: the site closes before its schema and home go.
  t.teardown(async () => {
    if (of === undefined) await dropSchema(env);
    await rm(home, { recursive: true, force: true });
  });
  const site = await openSite({ home, env, logLevel: 'silent' });
  const url = await serveApp(t, site);
  return { site, env, home, url };
}

/** The site's Express app on a loopback port; closed, with the site, when the test ends. */
async function serveApp(t: ExecutionContext, site: Site): Promise<string> {
  const server: Server = await new Promise((resolve) => {
    const s = createApp(site).listen(0, '127.0.0.1', () => resolve(s));
  });
  t.teardown(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await site.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A tuf-js client trusting root version 1 as the store holds it; `dir` keeps its trust. */
async function client(store: MetadataStore, url: string, dir?: string): Promise<Updater> {
  const metadataDir = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'upcat-tufdb-client-')));
  if (dir === undefined) {
    await mkdir(path.join(metadataDir, 'targets'));
    const root = await store.read('1.root.json');
    if (root === undefined) throw new Error('no 1.root.json in the store');
    await writeFile(path.join(metadataDir, 'root.json'), root);
  }
  return new Updater({
    metadataDir,
    metadataBaseUrl: `${url}/tuf`,
    targetDir: path.join(metadataDir, 'targets'),
    targetBaseUrl: `${url}/tuf/targets`,
    config: { fetchRetry: 0, fetchTimeout: 5000 },
  });
}

async function servedTimestampVersion(url: string): Promise<number> {
  const res = await fetch(`${url}/tuf/timestamp.json`);
  if (res.status === 404) return 0; // nothing published yet, as far as this node knows
  if (res.status !== 200) throw new Error(`timestamp.json: ${res.status}`);
  return ((await res.json()) as { signed: { version: number } }).signed.version;
}

/** Waits until `node` serves timestamp version `version` (the poll brings it; no time is asserted). */
async function seen(node: Node, version: number): Promise<number> {
  for (let i = 0; i < 600; i++) {
    const served = await servedTimestampVersion(node.url);
    if (served >= version) return served;
    await sleep(POLL_MS);
  }
  return servedTimestampVersion(node.url);
}

async function noTimestampFile(node: Node): Promise<boolean> {
  const names = await readdir(tufRepoDir(node.site.config.dirs.catalog)).catch((): string[] => []);
  return !names.includes('timestamp.json');
}

for (const kind of DATABASES) {
  test(`a publish through the service is served from the rows, and tuf-js verifies every target [${kind}]`, async (t) => {
    const node = await openNode(t, kind);
    t.is(node.site.metadata.kind, 'database');
    const body = 'payload served with metadata from the database';
    const pub = await publishBytes(node.site, body, fileManifest('tool.bin'));
    const updater = await client(node.site.metadata, node.url);
    await updater.refresh();
    const doc = await updater.getTargetInfo(`updates/${pub.updateId}.xml`);
    const payload = await updater.getTargetInfo(`payloads/${pub.sha256}`);
    t.truthy(doc);
    t.truthy(payload);
    t.true((await readFile(await updater.downloadTarget(doc!), 'utf8')).includes(pub.updateId));
    const bytes = await readFile(await updater.downloadTarget(payload!));
    t.is(createHash('sha256').update(bytes).digest('hex'), pub.sha256);
    t.true(await noTimestampFile(node), 'nothing was written under catalog/tuf/');
    // Versioned metadata is immutable; timestamp.json is revalidated (304 on a matching ETag).
    const snap = await fetch(`${node.url}/tuf/1.snapshot.json`);
    t.is(snap.status, 200);
    t.regex(snap.headers.get('cache-control') ?? '', /immutable/);
    t.is((await fetch(`${node.url}/tuf/9999.snapshot.json`)).status, 404);
    const ts = await fetch(`${node.url}/tuf/timestamp.json`);
    const etag = ts.headers.get('etag') ?? '';
    const again = await fetch(`${node.url}/tuf/timestamp.json`, {
      headers: { 'If-None-Match': etag },
    });
    t.is(again.status, 304);
  });

  test(`two nodes on one database: a publish through either is seen by the other, versions strictly increase, one refreshes [${kind}]`, async (t) => {
    const a = await openNode(t, kind);
    const b = await openNode(t, kind, a);
    const versions: number[] = [];
    for (const [i, writer] of [a, b, a].entries()) {
      await publishBytes(
        writer.site,
        `build ${i}`,
        fileManifest('tool.bin', { version: `1.${i}` }),
      );
      const written = await servedTimestampVersion(writer.url); // the writer sees it at once
      const other = writer === a ? b : a;
      t.is(await seen(other, written), written, 'the other node serves the new timestamp');
      versions.push(written);
    }
    t.true(versions.every((v, i) => i === 0 || v > (versions[i - 1] as number)));

    // Publishes on both nodes at once: the advisory lock (or SQLite's write lock) serializes them.
    await Promise.all([
      publishBytes(a.site, 'at once A', fileManifest('a.bin', { version: '2.0' }), 'a.bin'),
      publishBytes(b.site, 'at once B', fileManifest('b.bin', { version: '2.1' }), 'b.bin'),
    ]);
    const last = await servedTimestampVersion(b.url);
    t.true(last > (versions.at(-1) as number));
    const catalog = (await b.site.db('catalog_state').where({ id: 1 }).first('version')) as {
      version: number | string;
    };
    const snapshot = JSON.parse(
      (await b.site.metadata.read(`${await snapshotVersion(b)}.snapshot.json`))!.toString(),
    ) as { signed: Record<string, unknown> };
    t.is(snapshot.signed['x-upcat-catalog-version'], Number(catalog.version));
    // Node a sees b's last publish within its poll: ask it only once it serves that version.
    t.true((await seen(a, last)) >= last, 'node a serves the last timestamp');
    const updater = await client(a.site.metadata, a.url);
    await updater.refresh();
    t.truthy(await updater.getTargetInfo(`payloads/${sha256('at once B')}`));

    // Only the lease holder re-signs; the other node only serves.
    const refreshedBy: string[] = [];
    const ra = new TufRefresher(
      a.site.db,
      async () => (refreshedBy.push('a'), a.site.tuf!.refresh()),
      600,
    );
    const rb = new TufRefresher(
      b.site.db,
      async () => (refreshedBy.push('b'), b.site.tuf!.refresh()),
      600,
    );
    t.truthy(await ra.tick());
    t.is(await rb.tick(), undefined);
    t.truthy(await ra.tick(), 'the holder keeps its lease');
    t.deepEqual(refreshedBy, ['a', 'a']);
    await ra.release();
    t.truthy(await rb.tick(), 'a released lease is taken by the other node');
    t.is(await ra.tick(), undefined);
  });

  test(`a writer that fails midway leaves a repository that verifies; the next publish heals it [${kind}]`, async (t) => {
    const node = await openNode(t, kind);
    await publishBytes(node.site, 'first', fileManifest('tool.bin'));
    const store = node.site.metadata as DatabaseMetadataStore;
    const before = await servedTimestampVersion(node.url);
    const ring = node.site.signing!.ring;
    const target = {
      name: 'updates/injected.xml',
      length: 3,
      hashes: { sha256: createHash('sha256').update('abc').digest('hex') },
    };
    // Killed after the new bin and snapshot rows were written, before timestamp.json.
    const failing = failingAt(store, 'timestamp.json');
    await t.throwsAsync(
      publishTargets(failing, ring, { add: [target], catalogVersion: 1000 }, { binBits: 8 }),
      { message: /killed/ },
    );
    t.is(await servedTimestampVersion(node.url), before);
    const rows = await store.list();
    t.false(
      rows.includes(`${(await snapshotVersion(node)) + 1}.snapshot.json`),
      'no row of the failed write',
    );
    const verifying = await client(store, node.url);
    await verifying.refresh();
    t.is(await verifying.getTargetInfo('updates/injected.xml'), undefined);

    const healed = await publishTargets(store, ring, { add: [target], catalogVersion: 1000 });
    t.is(healed.timestampVersion, before + 1);
    const after = await client(store, node.url);
    await after.refresh();
    t.is((await after.getTargetInfo('updates/injected.xml'))?.length, 3);
  });

  test(`keys rotate on the database store: root N+1 and the new timestamp are rows a client follows [${kind}]`, async (t) => {
    const node = await openNode(t, kind);
    const pub = await publishBytes(node.site, 'before rotation', fileManifest('tool.bin'));
    const trust = await mkdtemp(path.join(os.tmpdir(), 'upcat-tufdb-trust-'));
    await mkdir(path.join(trust, 'targets'));
    await writeFile(path.join(trust, 'root.json'), (await node.site.metadata.read('1.root.json'))!);
    await (await client(node.site.metadata, node.url, trust)).refresh();
    const root = await rotateKey(node.site.config.dirs.signing, node.site.metadata, 'root');
    t.is(root.repository?.rootVersion, 2);
    const ts = await rotateKey(node.site.config.dirs.signing, node.site.metadata, 'timestamp');
    t.is(ts.repository?.rootVersion, 3); // every rotation names the new keys in a new root
    t.truthy(await node.site.metadata.read('3.root.json'));
    // A client that trusted root 1 walks to root 3 and accepts the new timestamp key.
    const early = await client(node.site.metadata, node.url, trust);
    await early.refresh();
    t.truthy(await early.getTargetInfo(`updates/${pub.updateId}.xml`));
    t.is(JSON.parse(await readFile(path.join(trust, 'root.json'), 'utf8')).signed.version, 3);
    const fresh = await client(node.site.metadata, node.url);
    await fresh.refresh();
    t.truthy(await fresh.getTargetInfo(`payloads/${pub.sha256}`));
    t.true(await noTimestampFile(node));
  });

  test(`gc removes superseded rows past the grace period and keeps what clients can fetch [${kind}]`, async (t) => {
    const node = await openNode(t, kind);
    for (const i of [1, 2, 3]) {
      await publishBytes(node.site, `gc ${i}`, fileManifest('tool.bin', { version: `1.${i}` }));
    }
    const store = node.site.metadata;
    const current = await snapshotVersion(node);
    t.truthy(await store.read('1.snapshot.json'));
    const later = Date.now() + 60_000;
    const dry = await collectMetadata(store, 1000, later, true);
    t.true(dry.files > 0);
    t.truthy(await store.read('1.snapshot.json'), 'a dry run removes nothing');
    t.deepEqual(await collectMetadata(store, 120_000, later, false), { files: 0, bytes: 0 });
    const freed = await collectMetadata(store, 1000, later, false);
    t.deepEqual(freed, dry);
    const rows = await store.list();
    t.false(rows.includes('1.snapshot.json'));
    t.true(rows.includes(`${current}.snapshot.json`));
    t.true(rows.includes('1.root.json') && rows.includes('timestamp.json'));
    const verifying = await client(store, node.url);
    await verifying.refresh();
    t.truthy(await verifying.getTargetInfo(`payloads/${sha256('gc 3')}`));
  });

  test(`backup and restore of a database-store site: the restored rows jump above every backed-up version [${kind}]`, async (t) => {
    const node = await openNode(t, kind);
    const pub = await publishBytes(node.site, 'kept by the backup', fileManifest('tool.bin'));
    const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-tufdb-backup-'));
    const file = path.join(work, 'site.backup');
    await takeBackup(node.site, { out: file });
    const home = path.join(work, 'restored');
    // PostgreSQL: a backup restores into its own schema name, so the lost site's schema goes first.
    const env = {
      ...siteEnv(kind, home),
      UPCAT_DATABASE_SCHEMA: node.env['UPCAT_DATABASE_SCHEMA'],
    };
    if (kind === 'postgres') await dropSchema(node.env);
    t.teardown(async () => {
      await dropSchema(env);
      await rm(work, { recursive: true, force: true });
    });
    const result = await restoreBackup({
      file,
      home,
      env,
      signingFrom: node.site.config.dirs.signing,
    });
    t.true(result.backupTuf.timestamp > 0, 'the backup saw the rows');
    const restored = await openSite({ home, env, logLevel: 'silent' });
    const url = await serveApp(t, restored);
    t.is(restored.metadata.kind, 'database');
    const ts = JSON.parse((await restored.metadata.read('timestamp.json'))!.toString()) as {
      signed: { version: number };
    };
    t.is(ts.signed.version, result.tufVersion);
    t.true(result.tufVersion > result.backupTuf.timestamp);
    const names = await readdir(tufRepoDir(restored.config.dirs.catalog)).catch((): string[] => []);
    t.false(names.includes('timestamp.json'));
    const verifying = await client(restored.metadata, url);
    await verifying.refresh();
    t.truthy(await verifying.getTargetInfo(`payloads/${pub.sha256}`));
  });

  test(`migrate-storage moves a site's metadata into the database and back, byte for byte [${kind}]`, async (t) => {
    const files = await openNode(t, kind, undefined, 'files');
    const pub = await publishBytes(files.site, 'on files', fileManifest('tool.bin'));
    const dir = tufRepoDir(files.site.config.dirs.catalog);
    const original = await snapshotFiles(dir);
    const { site } = files;

    const dry = await migrateMetadata(site.config, site.db, 'database', { dryRun: true });
    t.like(dry, { from: 'files', to: 'database', dryRun: true, files: original.size });
    t.deepEqual(await new DatabaseMetadataStore(site.db, POLL_MS).list(), []);

    const moved = await migrateMetadata(site.config, site.db, 'database');
    t.like(moved, { from: 'files', to: 'database', files: original.size });
    const rows = new DatabaseMetadataStore(site.db, POLL_MS);
    for (const [name, bytes] of original) t.true((await rows.read(name))?.equals(bytes), name);
    await t.throwsAsync(migrateMetadata(site.config, site.db, 'database'), {
      message: /already holds/,
    });

    // A node configured for the database serves what was moved, and tuf-js verifies it.
    const db = await openNode(t, kind, files);
    const updater = await client(db.site.metadata, db.url);
    await updater.refresh();
    t.truthy(await updater.getTargetInfo(`updates/${pub.updateId}.xml`));

    await rm(dir, { recursive: true, force: true });
    const back = await migrateMetadata(site.config, site.db, 'files');
    t.like(back, { from: 'database', to: 'files', files: original.size });
    t.deepEqual(await snapshotFiles(dir), original);
  });
}

/** A store whose writer throws when it comes to write `name` (a process killed at that point). */
function failingAt(store: MetadataStore, name: string): MetadataStore {
  return {
    kind: store.kind,
    label: store.label,
    read: (n) => store.read(n),
    write: (n, b) => store.write(n, b),
    list: () => store.list(),
    close: () => store.close(),
    writing: (fn) =>
      store.writing((io: MetadataIO) =>
        fn({
          label: io.label,
          read: (n) => io.read(n),
          write: async (n, b) => {
            if (n === name) throw new Error(`killed before writing ${n}`);
            await io.write(n, b);
          },
        }),
      ),
  };
}

async function snapshotVersion(node: Node): Promise<number> {
  const ts = JSON.parse((await node.site.metadata.read('timestamp.json'))!.toString()) as {
    signed: { meta: Record<string, { version: number }> };
  };
  return ts.signed.meta['snapshot.json']!.version;
}

async function snapshotFiles(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.json')).sort()) {
    out.set(name, await readFile(path.join(dir, name)));
  }
  return out;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
