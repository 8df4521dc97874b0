import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Updater } from 'tuf-js';
import { tufRepoDir } from '../../src/signing/tuf-repo.js';
import { readState } from '../../src/signing/tuf-state.js';
import { spawnCli, collect } from '../helpers/cli.js';
import { runCliWithin, startServe } from '../helpers/processes.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { download } from '../helpers/tuf.js';
import { dbTestSerial } from '../helpers/site.js';

/**
 * Issue 13 item 3: `upcat gc` killed with SIGKILL at random points while publishes and downloads
 * go on. After every kill the repository reads whole; every publish and every download
 * succeeds throughout; the last gc runs to the end; `upcat verify` is green.
 */

const DAY = 24 * 3600 * 1000;

async function ageAll(dir: string, msAgo: number): Promise<void> {
  const when = new Date(Date.now() - msAgo);
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) await utimes(path.join(e.parentPath, e.name), when, when);
  }
}

dbTestSerial('gc killed with -9 at any point, under publishes and downloads', async (t, ctx) => {
  t.timeout(8 * 60_000);
  const { site } = ctx;
  const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-gc-kill-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const repo = tufRepoDir(site.config.dirs.catalog);

  // Material for gc: many old metadata versions, retired payloads, a live catalog.
  const live: Array<{ updateId: string; sha256: string; bytes: string }> = [];
  for (let i = 0; i < 30; i++) {
    const bytes = `payload ${i} ${'x'.repeat(1000 * i)}`;
    const r = await publishBytes(site, bytes, fileManifest('tool.bin', { product: `P${i}` }));
    if (i % 3 === 0) await site.expire.expire(r.updateId, 'test');
    else live.push({ updateId: r.updateId, sha256: r.sha256, bytes });
  }
  await site
    .db('updates')
    .whereNotNull('expired_at')
    .update({ expired_at: new Date(Date.now() - 40 * DAY).toISOString() });
  await ageAll(site.config.dirs.catalog, 2 * 3600_000);
  await ageAll(site.config.dirs.packages, 2 * 3600_000);
  const agedSnapshot = (await readState(repo))?.snapshot.signed.version ?? 0;

  const server = await startServe(ctx.env);
  t.teardown(() => server.stop());
  const tufDir = path.join(work, 'tuf');
  await mkdir(path.join(work, 'targets'), { recursive: true });
  await mkdir(tufDir, { recursive: true });
  await copyFile(path.join(repo, '1.root.json'), path.join(tufDir, 'root.json'));
  const updater = (): Updater =>
    new Updater({
      metadataDir: tufDir,
      metadataBaseUrl: `${server.url}/tuf`,
      targetDir: path.join(work, 'targets'),
      targetBaseUrl: `${server.url}/tuf/targets`,
      config: { fetchRetry: 0, fetchTimeout: 10_000 },
    });

  // Publishes and downloads go on for as long as the kill rounds last.
  let stop = false;
  const failures: string[] = [];
  let published = 0;
  let downloads = 0;
  const publishing = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        const bytes = `during gc ${i}`;
        const r = await publishBytes(site, bytes, fileManifest('tool.bin', { product: `Q${i}` }));
        live.push({ updateId: r.updateId, sha256: r.sha256, bytes });
        published += 1;
      } catch (err) {
        failures.push(`publish ${i}: ${(err as Error).message}`);
      }
    }
  })();
  const downloading = (async () => {
    for (let i = 0; !stop; i++) {
      const item = live[i % live.length];
      if (item === undefined) continue;
      try {
        const res = await fetch(`${server.url}/content/${item.sha256}`);
        const body = Buffer.from(await res.arrayBuffer());
        if (res.status !== 200 || createHash('sha256').update(body).digest('hex') !== item.sha256) {
          failures.push(`download ${item.sha256}: ${res.status}`);
        }
        const client = updater();
        await client.refresh();
        const got = await download(client, `payloads/${item.sha256}`);
        if (got.toString() !== item.bytes)
          failures.push(`tuf-js download ${item.sha256}: other bytes`);
        downloads += 1;
      } catch (err) {
        failures.push(`download ${item.sha256}: ${(err as Error).message}`);
      }
    }
  })();

  // Kill rounds: SIGKILL after a random delay (start-up, mid-collection, or after the end).
  for (let round = 0; round < 8; round++) {
    const child = spawnCli(['gc', '--json'], ctx.env);
    const done = collect(child);
    await sleep(150 + Math.floor(Math.random() * 900));
    child.kill('SIGKILL');
    await done;
    // The repository reads whole after every kill (a client would find every current file).
    const state = await readState(repo);
    t.truthy(state);
    const files = new Set(await readdir(repo));
    for (const [name, meta] of Object.entries(state?.snapshot.signed.meta ?? {})) {
      t.true(files.has(`${meta.version}.${name}`), `round ${round}: ${meta.version}.${name}`);
    }
  }

  // A last gc runs to the end (a killed holder's lease does not block it).
  const last = await runCliWithin(['gc', '--json'], ctx.env, 120_000);
  t.is(last.code, 0, last.stderr);
  stop = true;
  await Promise.all([publishing, downloading]);
  t.deepEqual(failures, []);
  t.true(published > 0 && downloads > 0, `${published} publishes, ${downloads} downloads`);

  const verify = await runCliWithin(['verify'], ctx.env, 180_000);
  t.is(verify.code, 0, verify.stderr + verify.stdout);
  // What the killed runs left undone, the last run did: every snapshot aged past the grace
  // (all below the one current when the files were aged) is gone.
  const old = (await readdir(repo)).filter(
    (n) => /^\d+\.snapshot\.json$/.test(n) && Number(n.split('.')[0]) < agedSnapshot,
  );
  t.deepEqual(old, []);
});

dbTestSerial('upcat serve runs maintenance on its timer', async (t, ctx) => {
  t.timeout(120_000);
  await writeFile(
    path.join(ctx.home, 'upcat.config.json'),
    JSON.stringify({ maintenance: { intervalHours: 0.0005 } }), // every 1.8 s
  );
  // A temporary file of an atomic metadata write whose writer died hours ago.
  const repo = tufRepoDir(ctx.site.config.dirs.catalog);
  await mkdir(repo, { recursive: true });
  const stale = path.join(repo, '.timestamp.json.0123456789ab.tmp');
  await writeFile(stale, 'partial');
  await utimes(stale, new Date(Date.now() - 3 * 3600_000), new Date(Date.now() - 3 * 3600_000));
  const server = await startServe(ctx.env);
  t.teardown(() => server.stop());
  const gcRows = async (): Promise<Array<{ actor: string; detail: string }>> =>
    (await ctx.site.db('audit_log').where({ action: 'gc' })) as Array<{
      actor: string;
      detail: string;
    }>;
  const until = Date.now() + 60_000;
  while ((await gcRows()).length === 0 && Date.now() < until) await sleep(200);
  const rows = await gcRows();
  t.true(rows.length > 0, 'a maintenance run was recorded');
  t.is(rows[0]?.actor, 'maintenance');
  t.is(
    await stat(stale).catch(() => undefined),
    undefined,
    'the stale temporary file was collected',
  );
  t.true(
    (JSON.parse(rows[0]?.detail ?? '{}') as { temporaryFiles?: { files: number } }).temporaryFiles
      ?.files === 1,
  );
});
