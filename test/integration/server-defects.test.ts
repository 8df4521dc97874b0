import { execFile } from 'node:child_process';
import { readdir, stat, writeFile, chmod } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import test from 'ava';
import { pino } from 'pino';
import request from 'supertest';
import { openSite } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { IdempotencyStore } from '../../src/publish/idempotency.js';
import { createApp } from '../../src/server/app.js';
import { isLocalCaller } from '../../src/server/routes/metrics.js';
import { startServer } from '../../src/server/serve.js';
import { liveness, ownerId } from '../../src/storage/owner.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';

/** The defects of issue 13's probe (item 7), each with the check that failed before the fix. */

interface RawAnswer {
  text: string;
  /** Milliseconds from connecting to the socket closing. */
  ms: number;
}

/** Sends `head`, then each of `trickle` one by one `everyMs` apart; reads until the server closes. */
function raw(port: number, head: string, trickle: string[] = [], everyMs = 0): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let text = '';
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(head);
      let i = 0;
      const timer = setInterval(() => {
        const next = trickle[i++];
        if (next === undefined || socket.destroyed) return clearInterval(timer);
        socket.write(next);
      }, everyMs);
      socket.on('close', () => clearInterval(timer));
    });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => undefined); // a reset after the answer: the answer is what counts
    socket.on('close', () => resolve({ text, ms: Date.now() - started }));
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close after 20 s; got: ${text.slice(0, 200)}`));
    }, 20_000).unref();
  });
}

const portOf = (url: string): number => Number(new URL(url).port);

dbTest(
  'a declared body over the route limit is refused with 413 before it is read',
  async (t, { site }) => {
    const running = await startServer(site, { host: '127.0.0.1', port: 0 });
    try {
      for (const route of ['/v1/clients', '/fsp/v1/status']) {
        // 10 GB declared, not a byte sent: the answer comes at once and the connection closes.
        const answer = await raw(
          portOf(running.url),
          `POST ${route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n`,
        );
        t.regex(answer.text, /^HTTP\/1\.1 413 /, route);
        t.regex(answer.text, /"code":"too_large"/);
        t.regex(answer.text, /Content-Length 10737418240 is over the \d+-byte limit/);
        t.regex(answer.text, /connection: close/i);
      }
    } finally {
      await running.close();
    }
  },
);

dbTest('a body trickled slowly is answered 408 and closed', async (t, { site }) => {
  t.is(loadConfig({ home: '/nonexistent', env: {} }).server.bodyTimeoutMs, 30_000);
  t.is(loadConfig({ home: '/nonexistent', env: {} }).server.minBodyBytesPerSecond, 1024);
  site.config.server.bodyTimeoutMs = 500;
  site.config.server.minBodyBytesPerSecond = 64;
  const running = await startServer(site, { host: '127.0.0.1', port: 0 });
  const token = await tokenOf(site, 'publish');
  try {
    const body = JSON.stringify({ hardwareId: 'x'.repeat(150) });
    const cases = [
      `POST /v1/clients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      // The upload route, authenticated, with a chunked body that never ends.
      `POST /v1/updates?fileName=a.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nUpcat-Manifest: ${Buffer.from(JSON.stringify(fileManifest('a.bin'))).toString('base64')}\r\n\r\n`,
    ];
    for (const head of cases) {
      const trickle = head.includes('chunked')
        ? Array.from({ length: 40 }, () => '1\r\na\r\n')
        : body.split('');
      const answer = await raw(portOf(running.url), head, trickle, 250);
      t.regex(answer.text, /^HTTP\/1\.1 408 /, head.split(' ')[1]);
      t.notRegex(answer.text, /HTTP\/1\.1 [^4]/);
      t.regex(answer.text, /"code":"request_timeout"/);
      t.true(answer.ms < 5000, `closed after ${answer.ms} ms`);
    }
    // A body that arrives in time is unaffected.
    const ok = await request(running.url).post('/v1/clients').send({
      hardwareId: 'hw-1',
      name: 'pc',
      os: 'linux',
      architecture: 'x64',
      clientVersion: '1.0.0',
    });
    t.is(ok.status, 201);
  } finally {
    await running.close();
  }
});

dbTest(
  'GET /tuf/targets/.../<sha>.<name> serves only payloads a published update names',
  async (t, { site }) => {
    const published = await publishBytes(site, 'published bytes', fileManifest('a.bin'), 'a.bin');
    const stray = await site.pool.stage(Readable.from([Buffer.from('never published')]), 1024);
    await stray.commit(); // in the pool, named by no revision (a failed publish leaves such)
    const app = createApp(site);
    await request(app).get(`/tuf/targets/x/${published.sha256}.a.bin`).expect(200);
    const res = await request(app).get(`/tuf/targets/x/${stray.sha256}.a.bin`);
    t.is(res.status, 404);
    t.is(res.body.error.code, 'not_found');
  },
);

dbTest(
  'broken chunked framing on a download logs one line without a stack trace',
  async (t, { site }) => {
    const lines: string[] = [];
    site.log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const r = await publishBytes(site, 'x'.repeat(4_000_000), fileManifest('a.bin'), 'a.bin');
    const running = await startServer(site, { host: '127.0.0.1', port: 0 });
    try {
      const paths = [`/content/${r.sha256}`, `/tuf/targets/a/${r.sha256}.a.bin`];
      for (const p of paths) {
        await raw(
          portOf(running.url),
          `GET ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nXYZ\r\n`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      const about = lines.filter((l) => !l.includes('warmed'));
      t.is(about.length, paths.length, about.join(''));
      for (const line of about) {
        t.false(line.includes('stack'), line);
        t.like(JSON.parse(line), { level: 40, msg: 'request aborted by the client' });
      }
    } finally {
      await running.close();
    }
  },
);

dbTest(
  '/metrics in loopback mode: forwarding headers count only from a configured proxy',
  async (t, { site }) => {
    const app = createApp(site);
    await request(app).get('/metrics').expect(200);
    for (const header of ['X-Real-IP', 'X-Forwarded-For', 'Forwarded'])
      t.is((await request(app).get('/metrics').set(header, '203.0.113.9')).status, 403, header);
    site.config.server.trustedProxies = ['127.0.0.1', '::1'];
    const trusted = createApp(site);
    await request(trusted).get('/metrics').set('X-Forwarded-For', '127.0.0.1').expect(200);
    await request(trusted).get('/metrics').set('X-Real-IP', '203.0.113.9').expect(403);
    await request(trusted)
      .get('/metrics')
      .set('X-Forwarded-For', '127.0.0.1, 203.0.113.9')
      .expect(403);
    t.false(isLocalCaller('127.0.0.1', { 'x-real-ip': '127.0.0.1' }));
    t.true(isLocalCaller('10.0.0.5', { 'x-real-ip': '127.0.0.1' }, ['10.0.0.5']));
    t.false(isLocalCaller('10.0.0.6', { 'x-real-ip': '127.0.0.1' }, ['10.0.0.5']));
  },
);

dbTest(
  "site files are readable by the site's user only, new and existing",
  async (t, { site, home, env }) => {
    const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;
    // On PostgreSQL nothing has made catalog/ yet (no SQLite file, no signed catalog).
    const all = Object.values(site.config.dirs);
    const dirs = (
      await Promise.all(
        all.map((d) =>
          stat(d).then(
            () => d,
            () => undefined,
          ),
        ),
      )
    ).filter((d): d is string => d !== undefined);
    t.true(dirs.length >= 2);
    const db = path.join(site.config.dirs.catalog, 'upcat.db');
    for (const dir of dirs) t.is(await mode(dir), 0o700, dir);
    if (site.config.database.url === undefined) t.is(await mode(db), 0o600);
    const published = await publishBytes(site, 'bytes', fileManifest('a.bin'), 'a.bin');
    t.is((await mode(site.pool.pathOf(published.sha256))) & 0o077, 0);
    // A site made before: world-readable folders and database are tightened when it is opened.
    for (const dir of dirs) await chmod(dir, 0o755);
    if (site.config.database.url === undefined) await chmod(db, 0o644);
    const again = await openSite({ home, env, logLevel: 'silent' });
    try {
      for (const dir of dirs) t.is(await mode(dir), 0o700, dir);
      if (site.config.database.url === undefined) t.is(await mode(db), 0o600);
    } finally {
      await again.close();
    }
  },
);

/** The owner ID of a process that has exited (a crashed server, as far as its leases go). */
async function deadOwner(length: number): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `import('${path.resolve('src/storage/owner.ts')}').then((m) => console.log(m.ownerId(${length})))`,
    ],
    { cwd: process.cwd() },
  );
  return stdout.trim();
}

test('owner IDs: this process is alive, an exited one dead, a foreign one unknown', async (t) => {
  t.is(liveness(ownerId()), 'alive');
  const dead = await deadOwner(32);
  t.is(dead.length, 32);
  t.is(liveness(dead), 'dead');
  t.is(liveness('0123456789abcdef0123456789abcdef'), 'unknown');
});

dbTest(
  'an idempotency lease whose holder is known dead is taken over at once; a live one is not',
  async (t, { site }) => {
    const keys = new IdempotencyStore(site.db);
    const lease = (owner: string, key: string): Promise<unknown> =>
      site.db('idempotency_keys').insert({
        actor: 'token:a',
        key,
        state: 'in_progress',
        owner,
        created_at: new Date().toISOString(),
        expires_at: new Date(Date.now() + 120_000).toISOString(),
      });
    await lease(await deadOwner(32), 'k-dead');
    await lease(ownerId(32), 'k-live');
    await lease('0123456789abcdef0123456789abcdef', 'k-foreign');
    const dead = await keys.claim('token:a', 'k-dead');
    t.is(dead.kind, 'claimed');
    if (dead.kind === 'claimed') await dead.lease.release();
    t.is((await keys.claim('token:a', 'k-live')).kind, 'in_progress');
    t.is((await keys.claim('token:a', 'k-foreign')).kind, 'in_progress');
  },
);

dbTest(
  'packages/tmp: a staging file of a dead process is removed at the next start; a live one stays',
  async (t, { site }) => {
    const tmp = path.join(site.config.dirs.packages, 'tmp');
    const dead = `${Date.now()}-${await deadOwner(48)}.part`;
    const live = `${Date.now()}-${ownerId(48)}.part`;
    const foreign = `${Date.now()}-0123456789abcdef.part`;
    for (const name of [dead, live, foreign]) await writeFile(path.join(tmp, name), 'partial');
    await site.pool.init();
    const left = await readdir(tmp);
    t.false(left.includes(dead));
    t.true(left.includes(live));
    t.true(left.includes(foreign), 'another machine may still be writing it: its hour applies');
  },
);
