import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { Updater } from 'tuf-js';
import { payloadTargetName } from '../../src/publish/catalog-targets.js';
import type { PublishAnswer } from '../../src/publish/publish-service.js';
import { runCliWithin } from '../helpers/processes.js';
import { PASSWORD } from '../helpers/sessions.js';
import { startS3 } from '../helpers/s3.js';
import { download } from '../helpers/tuf.js';
import { SimAgent } from './multi-node/agents.js';
import { PERSON, multiNodeSite, sharedDatabase } from './multi-node/cluster.js';
import { startNginx } from './multi-node/nginx.js';
import {
  approveOver,
  downloadInterrupted,
  publishInterrupted,
  publishOver,
} from './multi-node/traffic.js';

/**
 * Issue 15 item 4: three `upcat serve` nodes on one PostgreSQL database behind nginx. Publishes
 * arrive through different nodes while simulated agents and a tuf-js client sync through the
 * balancer; one node is killed (SIGKILL) in the middle of a publish and another in the middle
 * of a download. Afterwards: catalog versions increase with time across nodes, every publish
 * that answered 201 is there, tuf-js verifies every payload, the agents converge on one policy
 * signed by the site's one policy key, and the killed nodes rejoin. A fourth node set up with
 * the site's TUF keys but without its signing/sync/ keys is refused at start.
 *
 * Nothing is shared through a file system: payloads are in one bucket of s3rver (an
 * S3-compatible server from npm, standing in for S3) and the TUF metadata in the database.
 */

const AGENTS = 6;

/** What the nodes need to reach s3rver: the SDK's standard environment (helpers/s3.ts sets it). */
function s3Credentials(): NodeJS.ProcessEnv {
  const names = [
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
  ];
  return Object.fromEntries(names.map((n) => [n, process.env[n]]));
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test.serial(
  'three nodes on one PostgreSQL behind nginx survive SIGKILL mid-publish and mid-download',
  async (t) => {
    t.timeout(300_000);
    const db = await sharedDatabase();
    t.teardown(() => db.destroy());
    const s3 = await startS3();
    t.teardown(() => s3.close());
    const blobs = {
      type: 's3',
      bucket: await s3.bucket(),
      prefix: 'site/',
      endpoint: s3.endpoint,
      forcePathStyle: true,
    };
    const site = await multiNodeSite(
      db,
      3,
      {
        site: { approval: 'auto-all' },
        server: { trustedProxies: ['127.0.0.1'], changePollMs: 100 },
        storage: { blobs, metadata: 'database' },
      },
      s3Credentials(),
    );
    t.teardown(() => site.stop());
    const [n0, n1, n2] = site.nodes as [
      (typeof site.nodes)[0],
      (typeof site.nodes)[0],
      (typeof site.nodes)[0],
    ];
    await n0.start();
    await Promise.all([n1.start(), n2.start()]);

    // A node whose signing/ lacks the site's sync keys refuses to start, with one line.
    const stray = await runCliWithin(
      ['serve', '--port', '0', '--host', '127.0.0.1'],
      await site.strayHomeEnv(),
      90_000,
    );
    t.not(stray.code, 0);
    t.regex(
      stray.stderr,
      /is missing but the database records the site's policy key: copy the site's signing\/ directory/,
    );

    const lb = await startNginx(
      path.join(site.work, 'nginx'),
      site.nodes.map((n) => n.port),
    );
    t.teardown(() => lb.stop());

    // Agents and a tuf-js client, all through the balancer.
    const agents = await Promise.all(
      Array.from({ length: AGENTS }, () => SimAgent.register(lb.url)),
    );
    const tufDir = path.join(site.work, 'tuf-js');
    await mkdir(path.join(tufDir, 'targets'), { recursive: true });
    const root = await fetch(`${lb.url}/tuf/1.root.json`);
    t.is(root.status, 200);
    await writeFile(path.join(tufDir, 'root.json'), Buffer.from(await root.arrayBuffer()));
    const tuf = (): Updater =>
      new Updater({
        metadataDir: tufDir,
        metadataBaseUrl: `${lb.url}/tuf`,
        targetDir: path.join(tufDir, 'targets'),
        targetBaseUrl: `${lb.url}/tuf/targets`,
        config: { fetchTimeout: 20_000 },
      });
    await tuf().refresh();

    let syncing = true;
    // A failed assertion below must not leave the loop running: it would keep the worker alive.
    t.teardown(() => {
      syncing = false;
    });
    const syncLoop = (async () => {
      while (syncing) {
        for (const a of agents) await a.sync(lb.url, site.policyKey, site.siteCode);
        await pause(50);
      }
    })();

    const published: Array<PublishAnswer & { name: string; bytes: Buffer }> = [];
    const publish = async (base: string, name: string, size = 4096): Promise<void> => {
      const bytes = randomBytes(size);
      const answer = await publishOver(base, site.tokens.publish, name, bytes);
      published.push({ ...answer, name, bytes });
      await approveOver(lb.url, site.tokens.approve, answer.updateId);
    };

    // Round 1: one publish straight to each node at once (they serialize in the database), and
    // a large one whose download is interrupted later.
    await Promise.all([
      publish(n0.url, 'r1-node0'),
      publish(n1.url, 'r1-node1'),
      publish(n2.url, 'r1-node2'),
      publish(lb.url, 'r1-large', 24 << 20),
    ]);
    await tuf().refresh();

    // Node 2 is killed with a publish half uploaded; publishes go on through the balancer.
    const interrupted = await publishInterrupted(
      n2.url,
      site.tokens.publish,
      'killed-upload',
      8 << 20,
      async () => {
        await n2.kill();
      },
    );
    t.not(interrupted, 201, 'a publish cut off by SIGKILL did not answer success');
    await Promise.all([publish(lb.url, 'r2-a'), publish(lb.url, 'r2-b')]);

    // Node 1 is killed while it sends a payload; the same payload through the balancer is whole.
    const large = published.find((p) => p.name === 'r1-large');
    if (large === undefined) throw new Error('the large publish is missing');
    const cut = await downloadInterrupted(n1.url, large.sha256, () => n1.kill());
    t.is(cut.status, 200);
    t.false(cut.whole, `the download from the killed node stopped (${cut.received} bytes)`);
    const again = await fetch(`${lb.url}/content/${large.sha256}`);
    t.is(sha256(Buffer.from(await again.arrayBuffer())), large.sha256);

    // Only node 0 is up: the site still publishes, then the killed nodes rejoin and take publishes.
    await publish(lb.url, 'r3-alone');
    await Promise.all([n1.start(), n2.start()]);
    await Promise.all([publish(n1.url, 'r4-node1'), publish(n2.url, 'r4-node2')]);
    syncing = false;
    await syncLoop;

    // Catalog versions: one per change, increasing with time whichever node made it.
    const knex = db.connect();
    t.teardown(() => knex.destroy());
    const versions = (await knex('catalog_versions')
      .orderBy('version')
      .select('version', 'reason', 'update_id', 'created_at')) as Array<{
      version: number;
      reason: string;
      update_id: string | null;
      created_at: string;
    }>;
    for (let i = 1; i < versions.length; i++) {
      const [a, b] = [versions[i - 1], versions[i]];
      t.true(
        a !== undefined && b !== undefined && a.created_at <= b.created_at,
        `version ${b?.version} made after ${a?.version}`,
      );
    }
    const answered = published.map((p) => p.catalogVersion);
    t.is(new Set(answered).size, answered.length, 'every publish has a version of its own');
    for (const p of published) {
      const row = versions.find((v) => v.version === p.catalogVersion);
      t.is(row?.update_id, p.updateId, `${p.name}: its version ${p.catalogVersion} names it`);
    }
    t.falsy(
      await knex('revisions').where('title', 'killed-upload').first(),
      'the killed publish left no update',
    );

    // Every node, the rejoined ones too, serves every update that answered 201.
    for (const node of site.nodes) {
      for (const p of published) {
        const res = await fetch(`${node.url}/v1/updates/${p.updateId}`, {
          headers: { authorization: `Bearer ${site.tokens.admin}` },
        });
        t.is(res.status, 200, `${p.name} on ${node.url}`);
      }
    }

    // A console login through one node is a session on every node; a logout ends it on all.
    const login = await fetch(`${n0.url}/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: PERSON, password: PASSWORD }),
    });
    t.is(login.status, 200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    for (const node of [n1, n2]) {
      const res = await fetch(`${node.url}/v1/session`, { headers: { cookie } });
      t.is(res.status, 200, `the session on ${node.url}`);
    }
    const logout = await fetch(`${n1.url}/v1/session`, {
      method: 'DELETE',
      headers: { cookie, 'x-csrf-token': csrfToken },
    });
    t.is(logout.status, 204);
    t.is((await fetch(`${n2.url}/v1/session`, { headers: { cookie } })).status, 401);

    // tuf-js, through the balancer, verifies every payload against the signed catalog.
    const client = tuf();
    await client.refresh();
    for (const p of published) {
      t.is(sha256(await download(client, payloadTargetName(p.sha256))), p.sha256, p.name);
    }

    // The agents converge: every approved update, in a policy the site's one key signed.
    const expected = published.map((p) => p.updateId).sort();
    for (const a of agents) {
      for (let i = 0; i < 100 && a.holds().join() !== expected.join(); i++) {
        await a.sync(lb.url, site.policyKey, site.siteCode);
        if (a.holds().join() !== expected.join()) await pause(100);
      }
      t.deepEqual(a.holds(), expected, `agent ${a.clientId}`);
      t.deepEqual(a.refused, [], 'no policy refused');
    }
  },
);
