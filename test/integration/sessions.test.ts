import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { Site } from '../../src/app.js';
import { createApp } from '../../src/server/app.js';
import { SessionService } from '../../src/site/sessions.js';
import { dbTest } from '../helpers/site.js';
import { PASSWORD, login, loginAs } from '../helpers/sessions.js';
import { clientKeys, selfSigned } from '../helpers/tls-client.js';

const MINUTE = 60_000;

/** The site's session service on a clock the test moves (no sleeping). */
function fakeClock(site: Site): {
  advance(ms: number): void;
} {
  let at = Date.now();
  site.sessions = new SessionService({ ...site, clock: () => at });
  return { advance: (ms) => (at += ms) };
}

dbTest('sessions: idle expiry, and use keeps a session alive', async (t, { site }) => {
  const clock = fakeClock(site);
  const app = createApp(site);
  const ada = await loginAs(site, app, 'ada', 'admin');
  const me = () => request(app).get('/v1/session').set('Cookie', ada.cookie);
  // Used every 20 minutes, it outlives the 30-minute idle limit.
  for (let i = 0; i < 4; i++) {
    clock.advance(20 * MINUTE);
    t.is((await me()).status, 200, `after ${(i + 1) * 20} minutes`);
  }
  clock.advance(30 * MINUTE + 1000);
  const idle = await me();
  t.is(idle.status, 401);
  t.regex(idle.body.error.message, /expired/);
  t.is((await request(app).get('/v1/users').set('Cookie', ada.cookie)).status, 401);
});

dbTest('sessions: absolute expiry, however busy the session', async (t, { site }) => {
  const clock = fakeClock(site);
  const app = createApp(site);
  const ada = await loginAs(site, app, 'ada', 'admin');
  for (let minutes = 0; minutes < 12 * 60 - 10; minutes += 10) {
    clock.advance(10 * MINUTE);
    if (minutes % 120 === 0)
      t.is((await request(app).get('/v1/session').set('Cookie', ada.cookie)).status, 200);
    else await site.sessions.authenticate(ada.cookie.slice('upcat_session='.length));
  }
  clock.advance(20 * MINUTE); // 12 h 10 min after login, last used 20 min ago
  t.is((await request(app).get('/v1/session').set('Cookie', ada.cookie)).status, 401);
});

dbTest(
  "sessions: a removed account's sessions stop at once; a new password ends the old ones",
  async (t, { site }) => {
    const app = createApp(site);
    const ada = await loginAs(site, app, 'ada', 'admin');
    const bob = await loginAs(site, app, 'bob', 'operator');
    const bob2 = await login(app, 'bob', PASSWORD);
    const reads = (who: typeof ada) =>
      request(app).get('/v1/deployments').set('Cookie', who.cookie);
    t.is((await reads(bob)).status, 200);
    const removed = await request(app)
      .delete('/v1/users/bob')
      .set('Cookie', ada.cookie)
      .set('X-CSRF-Token', ada.csrf);
    t.is(removed.status, 200, removed.text);
    t.is((await reads(bob)).status, 401);
    t.is((await reads(bob2)).status, 401);
    t.is((await reads(ada)).status, 200, "another person's session goes on");
    const relogin = await request(app)
      .post('/v1/session')
      .send({ name: 'bob', password: PASSWORD });
    t.is(relogin.status, 401);

    // Even a session row that was somehow left live is refused once the account is removed.
    const carol = await loginAs(site, app, 'carol', 'viewer');
    await site
      .db('users')
      .where({ name: 'carol' })
      .update({ removed_at: new Date().toISOString() });
    t.is((await reads(carol)).status, 401);

    const changed = await request(app)
      .post('/v1/users/ada/password')
      .set('Cookie', ada.cookie)
      .set('X-CSRF-Token', ada.csrf)
      .send({ password: 'a brand new password' });
    t.is(changed.status, 200, changed.text);
    t.is((await reads(ada)).status, 401, 'the old session ended with the password');
    const again = await login(app, 'ada', 'a brand new password');
    t.is((await reads(again)).status, 200);

    const audit = (await site
      .db('audit_log')
      .whereIn('action', ['user.remove', 'user.passwd'])
      .orderBy('id')) as Array<{
      actor: string;
      action: string;
      target: string;
      detail: string;
    }>;
    t.deepEqual(
      audit.map((r) => [r.actor, r.action, r.target, JSON.parse(r.detail)]),
      [
        ['user:ada', 'user.remove', 'bob', { sessions: 2 }],
        ['user:ada', 'user.passwd', 'ada', { sessions: 1 }],
      ],
    );
  },
);

/** A login POSTed from a chosen loopback address (127.0.0.0/8 is all loopback on Linux). */
function loginFrom(
  port: number,
  from: string,
  name: string,
  password: string,
): Promise<{ status: number; retryAfter: string | undefined; message: string }> {
  const body = JSON.stringify({ name, password });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        localAddress: from,
        path: '/v1/session',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers['retry-after'],
            message:
              (JSON.parse(text || '{}') as { error?: { message?: string } }).error?.message ?? '',
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

dbTest(
  'sessions: login attempts are rate-limited per account and per address (429, Retry-After)',
  async (t, { site }) => {
    site.config.server.loginAttemptsPerMinute = 3;
    const server = http.createServer(createApp(site));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      await site.users.add({ name: 'ada', role: 'admin', password: PASSWORD }, 'test');
      const wrong = 'wrong password here';
      // Per account, failures from one address; then the right password from another is refused too.
      for (let i = 0; i < 3; i++)
        t.is((await loginFrom(port, '127.0.0.2', 'ada', wrong)).status, 401);
      const limited = await loginFrom(port, '127.0.0.3', 'ada', PASSWORD);
      t.is(limited.status, 429);
      t.regex(limited.message, /for this account/);
      const retry = Number(limited.retryAfter);
      t.true(retry >= 1 && retry <= 15 * 60, String(retry));
      // An unknown name is limited exactly as a known one (a 429 tells nothing about the account).
      for (let i = 0; i < 3; i++)
        t.is((await loginFrom(port, '127.0.0.4', 'nobody', wrong)).status, 401);
      const ghost = await loginFrom(port, '127.0.0.5', 'nobody', wrong);
      t.is(ghost.status, 429);
      t.is(ghost.message, limited.message.replace('ada', 'nobody'));
      // Per address: the fourth attempt a minute from one address is refused, whatever the account.
      for (const name of ['n1', 'n2'])
        t.is((await loginFrom(port, '127.0.0.3', name, wrong)).status, 401);
      const flood = await loginFrom(port, '127.0.0.3', 'n3', wrong);
      t.is(flood.status, 429);
      t.regex(flood.message, /from this address/);
      t.truthy(flood.retryAfter);
      t.is((await loginFrom(port, '127.0.0.6', 'n3', wrong)).status, 401, 'other addresses go on');
      // A person's own successful logins never count against their account.
      await site.users.add({ name: 'bea', role: 'viewer', password: PASSWORD }, 'test');
      for (const from of ['127.0.0.7', '127.0.0.8', '127.0.0.9', '127.0.0.10'])
        t.is((await loginFrom(port, from, 'bea', PASSWORD)).status, 200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  },
);

dbTest('sessions: the cookie is Secure when the login came over HTTPS', async (t, { site }) => {
  const keys = clientKeys('localhost');
  const server = https.createServer(
    { key: keys.keyPem, cert: selfSigned(keys.keyPem) },
    createApp(site),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await site.users.add({ name: 'ada', role: 'admin', password: PASSWORD }, 'test');
    const { port } = server.address() as AddressInfo;
    const setCookie = await new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ name: 'ada', password: PASSWORD });
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          path: '/v1/session',
          method: 'POST',
          rejectUnauthorized: false,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          t.is(res.statusCode, 200);
          resolve(String(res.headers['set-cookie']?.[0]));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    t.regex(setCookie, /; Secure(;|$)/);
    t.regex(setCookie, /; HttpOnly/);
    t.regex(setCookie, /; SameSite=Strict/);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }

  // Behind a TLS-terminating proxy named in server.trustedProxies, X-Forwarded-Proto says so...
  const app = createApp(site);
  const viaProxy = () =>
    request(app)
      .post('/v1/session')
      .set('X-Forwarded-Proto', 'https')
      .send({ name: 'ada', password: PASSWORD });
  const untrusted = await viaProxy();
  t.notRegex(String(untrusted.headers['set-cookie']), /Secure/, 'from anyone else it is ignored');
  site.config.server.trustedProxies = ['127.0.0.1', '::1', '::ffff:127.0.0.1'];
  const trusted = await viaProxy();
  t.regex(String(trusted.headers['set-cookie']), /; Secure(;|$)/);
});
