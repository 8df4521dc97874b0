import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import type { Site } from '../../src/app.js';
import { collect, runCli, spawnCli } from '../helpers/cli.js';
import { fileManifest } from '../helpers/publish.js';
import { dbTestSerial } from '../helpers/site.js';

const ITERATIONS = 25;
const PAYLOAD_BYTES = 24 * 1024 * 1024;

/**
 * A publish killed (SIGKILL) at a random moment, many times over: afterwards the catalog is
 * always consistent, and the next publish of the same build succeeds.
 */
dbTestSerial(
  'a publish killed at random points always leaves a consistent catalog',
  async (t, { site, home, env }) => {
    const payload = path.join(home, 'client.bin');
    await writeFile(payload, randomBytes(PAYLOAD_BYTES));
    const manifestOf = async (i: number): Promise<string> => {
      const file = path.join(home, `m${i}.json`);
      await writeFile(
        file,
        JSON.stringify(fileManifest('client.bin', { version: `1.0.${i}`, title: `Build ${i}` })),
      );
      return file;
    };

    // Clean runs tell how long start-up and a whole publish take here, so that kill times spread
    // over the publish itself rather than over module loading.
    const bootStarted = Date.now();
    await runCli(['--help'], env);
    const boot = Date.now() - bootStarted;
    const started = Date.now();
    const clean = await runCli(
      ['publish', payload, '--manifest', await manifestOf(0), '--json'],
      env,
    );
    t.is(clean.code, 0, clean.stderr);
    const duration = Date.now() - started;

    let killed = 0;
    // Machine load changes run times: a run that finishes before its kill narrows the window.
    let upper = duration;
    for (let i = 1; i <= ITERATIONS; i++) {
      // Each build differs in its last bytes, so every iteration stages new content.
      await writeFile(payload, randomBytes(16), { flag: 'r+' });
      const child = spawnCli(
        ['publish', payload, '--manifest', await manifestOf(i), '--json'],
        env,
      );
      const lower = Math.min(boot * 0.8, upper * 0.5);
      const delay = Math.floor(lower + Math.random() * Math.max(20, upper - lower));
      const runStarted = Date.now();
      const timer = setTimeout(() => child.kill('SIGKILL'), delay);
      const res = await collect(child);
      clearTimeout(timer);
      if (res.signal === 'SIGKILL') killed++;
      else {
        t.is(res.code, 0, `iteration ${i}: ${res.stderr}`);
        upper = Math.min(upper, Date.now() - runStarted);
      }
      await assertConsistent(
        t,
        site,
        `after iteration ${i} (killed at ${delay} ms: ${res.signal ?? 'finished'})`,
      );

      if (res.signal === 'SIGKILL') {
        // The same build publishes cleanly right after the crash.
        const retry = await runCli(
          ['publish', payload, '--manifest', await manifestOf(i), '--json'],
          env,
        );
        t.is(retry.code, 0, `retry ${i}: ${retry.stderr}`);
        await assertConsistent(t, site, `after retry ${i}`);
      }
    }
    t.log(
      `${killed} of ${ITERATIONS} publishes were killed midway (publish takes ~${duration} ms)`,
    );
    t.true(killed >= ITERATIONS / 3, 'a good share of runs were actually interrupted');
    const updates = await site.catalog.listUpdates();
    t.is(updates.length, ITERATIONS + 1, 'every build ended up published exactly once');
  },
);

async function assertConsistent(t: ExecutionContext, site: Site, when: string): Promise<void> {
  const db = site.db;
  const state = await site.catalog.catalogVersion();
  const [maxRow] = (await db('catalog_versions').max({ v: 'version' })) as Array<{
    v: number | string | null;
  }>;
  t.is(state, Number(maxRow?.v ?? 0), `catalog version matches its log ${when}`);

  const revisions = (await db('revisions').select(
    'id',
    'update_id',
    'revision_number',
    'catalog_version',
  )) as Array<{
    id: number;
    update_id: string;
    revision_number: number;
    catalog_version: number;
  }>;
  const versions = new Set(
    ((await db('catalog_versions').select('version')) as Array<{ version: number }>).map((r) =>
      Number(r.version),
    ),
  );
  for (const rev of revisions) {
    t.true(
      versions.has(Number(rev.catalog_version)),
      `revision ${rev.id} has its catalog version ${when}`,
    );
    const files = (await db('files').where({ revision_id: rev.id })) as Array<{
      sha256: string;
      size: number | string;
    }>;
    t.is(files.length, 1, `revision ${rev.id} has its file ${when}`);
    for (const file of files) {
      t.is(
        await site.pool.sizeOf(file.sha256),
        Number(file.size),
        `payload of revision ${rev.id} is whole ${when}`,
      );
    }
  }
  const orphanRevisions = (await db('updates as u')
    .leftJoin('revisions as r', function join() {
      this.on('r.update_id', '=', 'u.update_id').andOn(
        'r.revision_number',
        '=',
        'u.latest_revision',
      );
    })
    .whereNull('r.id')
    .select('u.update_id')) as unknown[];
  t.deepEqual(orphanRevisions, [], `every update has its latest revision ${when}`);
  const publishes = (await db('catalog_versions as c')
    .leftJoin('revisions as r', function join() {
      this.on('r.update_id', '=', 'c.update_id').andOn(
        'r.revision_number',
        '=',
        'c.revision_number',
      );
    })
    .where('c.reason', 'publish')
    .whereNull('r.id')
    .select('c.version')) as unknown[];
  t.deepEqual(publishes, [], `every publish in the log has its revision ${when}`);
}
