import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runGc, runMaintenance, type GcReport } from '../../src/ops/maintenance.js';
import { Lease } from '../../src/ops/lease.js';
import { tufRepoDir } from '../../src/signing/tuf-repo.js';
import { readState } from '../../src/signing/tuf-state.js';
import { runCli } from '../helpers/cli.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest, type SiteContext } from '../helpers/site.js';

/**
 * Issue 13 item 3: `upcat gc` removes exactly what nothing current needs, says what it freed,
 * rolls up old state messages, deletes old obsolete records, and leaves a catalog that
 * `upcat verify` (an independent tuf-js walk) finds whole.
 */

const DAY = 24 * 3600 * 1000;
const iso = (msAgo: number): string => new Date(Date.now() - msAgo).toISOString();

async function ageFiles(dir: string, msAgo: number): Promise<void> {
  const when = new Date(Date.now() - msAgo);
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) await utimes(path.join(e.parentPath, e.name), when, when);
  }
}

const exists = async (file: string): Promise<boolean> =>
  (await stat(file).catch(() => undefined)) !== undefined;

async function insertClient(
  ctx: SiteContext,
  recordState: string,
  lastContactAgo: number,
): Promise<string> {
  const id = randomUUID();
  await ctx.site.db('clients').insert({
    client_id: id,
    hardware_id: `hw-${id}`,
    name: 'pc',
    os: 'linux',
    architecture: 'x64',
    client_version: '1.0.0',
    approval: 'approved',
    record_state: recordState,
    created_at: iso(lastContactAgo),
    last_contact: iso(lastContactAgo),
  });
  return id;
}

async function insertMessage(
  ctx: SiteContext,
  clientId: string,
  updateId: string,
  state: string,
  ago: number,
): Promise<void> {
  await ctx.site.db('state_messages').insert({
    message_id: randomBytes(16).toString('hex'),
    client_id: clientId,
    authenticated: true,
    topic: 'update',
    update_id: updateId,
    revision_number: 1,
    state,
    received_at: iso(ago),
  });
}

dbTest('gc removes what nothing needs, keeps what anything current needs', async (t, ctx) => {
  t.timeout(180_000);
  const { site } = ctx;
  const pool = site.pool;
  const repo = tufRepoDir(site.config.dirs.catalog);

  // An update expired long ago, one expired yesterday, and one whose first revision (other
  // bytes) was superseded long ago, and one whose revisions share their bytes.
  const gone = await publishBytes(
    site,
    'expired long ago',
    fileManifest('tool.bin', { product: 'A' }),
  );
  const recent = await publishBytes(
    site,
    'expired recently',
    fileManifest('tool.bin', { product: 'B' }),
  );
  const old = await publishBytes(site, 'first bytes', fileManifest('tool.bin', { product: 'C' }));
  const next = await publishBytes(
    site,
    'second bytes',
    fileManifest('tool.bin', { product: 'C', version: '2.0', updateId: old.updateId }),
  );
  const same1 = await publishBytes(site, 'same bytes', fileManifest('tool.bin', { product: 'D' }));
  await publishBytes(
    site,
    'same bytes',
    fileManifest('tool.bin', { product: 'D', title: 'D, new title', updateId: same1.updateId }),
  );
  await site.expire.expire(gone.updateId, 'test');
  await site.expire.expire(recent.updateId, 'test');
  for (let i = 0; i < 6; i++) {
    await publishBytes(site, `filler ${i}`, fileManifest('tool.bin', { product: `F${i}` }));
  }
  await site
    .db('updates')
    .where({ update_id: gone.updateId })
    .update({ expired_at: iso(40 * DAY) });
  await site.db('revisions').update({ created_at: iso(40 * DAY) });
  t.not(next.sha256, old.sha256);

  // Everything on disk is two hours old: past the 60-minute grace.
  await ageFiles(site.config.dirs.catalog, 2 * 3600_000);
  await ageFiles(path.join(site.config.dirs.packages, 'pool'), 2 * 3600_000);
  // An unreferenced pool file (a publish killed between rename and commit), old and new.
  const orphanOld = randomBytes(32).toString('hex');
  const orphanNew = randomBytes(32).toString('hex');
  for (const sha of [orphanOld, orphanNew]) {
    await mkdir(path.dirname(pool.pathOf(sha)), { recursive: true });
    await writeFile(pool.pathOf(sha), 'orphan');
  }
  await utimes(
    pool.pathOf(orphanOld),
    new Date(Date.now() - 2 * 3600_000),
    new Date(Date.now() - 2 * 3600_000),
  );
  // Temporary files: a killed publish's stage (old), one being written (new), a metadata temp.
  const tmpOld = path.join(site.config.dirs.packages, 'tmp', '1-old.part');
  const tmpNew = path.join(site.config.dirs.packages, 'tmp', `${Date.now()}-new.part`);
  const metaTmp = path.join(repo, '.timestamp.json.abcdef.tmp');
  for (const f of [tmpOld, tmpNew, metaTmp]) await writeFile(f, 'partial');
  for (const f of [tmpOld, metaTmp]) {
    await utimes(f, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000));
  }

  // State messages: three old ones of one client and revision; the newest of them stays.
  const client = await insertClient(ctx, 'active', 0);
  await insertMessage(ctx, client, same1.updateId, 'downloading', 100 * DAY + 2000);
  await insertMessage(ctx, client, same1.updateId, 'installing', 100 * DAY + 1000);
  await insertMessage(ctx, client, same1.updateId, 'installed', 100 * DAY);
  // Client records: obsolete and silent for 100 days (deleted), obsolete 10 days, active 100 days.
  const obsoleteOld = await insertClient(ctx, 'obsolete', 100 * DAY);
  const obsoleteNew = await insertClient(ctx, 'obsolete', 10 * DAY);
  const activeOld = await insertClient(ctx, 'active', 100 * DAY);

  const stateBefore = await readState(repo);
  const filesBefore = (await readdir(repo)).length;

  // A dry run reports and removes nothing.
  const dry = await runGc(site, { dryRun: true });
  t.true(dry.dryRun);
  t.is((await readdir(repo)).length, filesBefore);
  t.true(await exists(pool.pathOf(gone.sha256)));
  t.true(await exists(tmpOld));

  const report = await runGc(site);
  t.deepEqual({ ...summary(report) }, { ...summary(dry) }, 'the dry run predicted the run');

  // TUF: the current versions and every root stay; old versions went.
  const stateAfter = await readState(repo);
  t.is(stateAfter?.timestamp.signed.version, stateBefore?.timestamp.signed.version);
  const left = await readdir(repo);
  const snap = stateAfter?.snapshot.signed;
  t.truthy(snap);
  for (const [name, meta] of Object.entries(snap?.meta ?? {})) {
    t.true(left.includes(`${meta.version}.${name}`), `${meta.version}.${name} kept`);
  }
  t.true(left.includes('1.root.json') && left.includes('root.json'));
  t.false(left.includes('1.snapshot.json'), 'an old snapshot was removed');
  t.true(report.tufMetadata.files > 0);
  t.is(report.tufMetadata.files, filesBefore - left.length - 1); // and the metadata temp file

  // Payloads: exactly those of revisions retired past retention, and the old orphan.
  t.false(await exists(pool.pathOf(gone.sha256)), 'expired 40 days ago: removed');
  t.false(await exists(pool.signaturePathOf(gone.sha256)), 'with its signature');
  t.false(await exists(pool.pathOf(old.sha256)), 'superseded 40 days ago: removed');
  t.true(await exists(pool.pathOf(recent.sha256)), 'expired today: kept');
  t.true(await exists(pool.pathOf(next.sha256)), 'the live revision: kept');
  t.true(await exists(pool.pathOf(same1.sha256)), 'bytes a live revision shares: kept');
  t.false(await exists(pool.pathOf(orphanOld)));
  t.true(await exists(pool.pathOf(orphanNew)), 'an orphan within the grace: kept');
  // Two payloads, and the metadata documents of the three revisions retired (A, C 1, D 1).
  t.is(report.retiredPayloads.files, 5);
  t.is(report.unreferencedPayloads.files, 1);
  t.false(await exists(tmpOld));
  t.false(await exists(metaTmp));
  t.true(await exists(tmpNew));
  t.is(report.temporaryFiles.files, 2);

  // State messages: two rolled up into counts; the newest stays as a message.
  t.deepEqual(report.stateMessages, { messages: 2, rollups: 2 });
  const messages = (await site.db('state_messages').where({ client_id: client })) as Array<{
    state: string;
  }>;
  t.deepEqual(
    messages.map((m) => m.state),
    ['installed'],
  );
  const rollups = (await site
    .db('state_message_rollups')
    .where({ client_id: client })
    .orderBy('state')) as Array<{ state: string; count: number | string }>;
  t.deepEqual(
    rollups.map((r) => [r.state, Number(r.count)]),
    [
      ['downloading', 1],
      ['installing', 1],
    ],
  );
  // Clients.
  t.is(report.obsoleteClients, 1);
  const ids = ((await site.db('clients').select('client_id')) as Array<{ client_id: string }>).map(
    (c) => c.client_id,
  );
  t.false(ids.includes(obsoleteOld));
  t.true(ids.includes(obsoleteNew) && ids.includes(activeOld));
  t.is(
    report.bytes,
    report.tufMetadata.bytes +
      report.unreferencedPayloads.bytes +
      report.retiredPayloads.bytes +
      report.temporaryFiles.bytes,
  );

  // A second run finds nothing left to do.
  const again = await runGc(site);
  t.is(again.tufMetadata.files + again.retiredPayloads.files + again.unreferencedPayloads.files, 0);
  t.is(again.stateMessages.messages, 0);

  // The catalog a client sees is whole: an independent tuf-js walk with payload signatures.
  const verify = await runCli(['verify', '--json'], ctx.env);
  t.is(verify.code, 0, verify.stderr + verify.stdout);
});

dbTest(
  'one node at a time: gc refuses while another holds the maintenance lease',
  async (t, ctx) => {
    const other = new Lease(ctx.site.db, 'maintenance', 60_000);
    t.true(await other.acquire());
    t.is(await runMaintenance(ctx.site), undefined);
    const err = await t.throwsAsync(runGc(ctx.site));
    t.is((err as { code?: string }).code, 'conflict');
    t.regex(err?.message ?? '', /maintenance is running elsewhere/);
    await other.release();
    t.truthy(await runMaintenance(ctx.site));
    // An expired lease is taken over (its holder died).
    const dead = new Lease(ctx.site.db, 'maintenance', 1);
    t.true(await dead.acquire(new Date(Date.now() - 60_000)));
    t.truthy(await runMaintenance(ctx.site));
  },
);

function summary(r: GcReport): Record<string, number> {
  return {
    tuf: r.tufMetadata.files,
    retired: r.retiredPayloads.files,
    unreferenced: r.unreferencedPayloads.files,
    temporary: r.temporaryFiles.files,
    obsolete: r.obsoleteClients,
  };
}
