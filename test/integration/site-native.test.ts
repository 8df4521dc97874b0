import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import forge from 'node-forge';
import request from 'supertest';
import { crlToPem } from '../../src/signing/crl.js';
import { createEnrollmentToken } from '../../src/site/enrollment.js';
import { createApp } from '../../src/server/app.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest, type SiteContext } from '../helpers/site.js';
import { clientKeys, selfSigned, tlsRequest, type ClientKeys } from '../helpers/tls-client.js';

const run = promisify(execFile);

interface Native {
  running: RunningServer;
  httpsUrl: string;
  ca: string;
}

/** The real server (HTTP and HTTPS on ephemeral ports) for a site in `mode`. */
async function serve(ctx: SiteContext, mode: 'native' | 'mixed'): Promise<Native> {
  ctx.site.config.site.mode = mode;
  ctx.site.config.server.https = true;
  const running = await startServer(ctx.site, { host: '127.0.0.1', port: 0, httpsPort: 0 });
  const httpsUrl = running.https?.url;
  if (httpsUrl === undefined) throw new Error('no HTTPS listener');
  return { running, httpsUrl, ca: ctx.site.signing?.caCertificatePem ?? '' };
}

async function withServer(
  ctx: SiteContext,
  mode: 'native' | 'mixed',
  fn: (n: Native) => Promise<void>,
): Promise<void> {
  const n = await serve(ctx, mode);
  try {
    await fn(n);
  } finally {
    await n.running.close();
  }
}

/** Registers over HTTPS (no client certificate yet) with a request and an enrollment token. */
async function enrol(
  ctx: SiteContext,
  n: Native,
  keys: ClientKeys,
  over: Record<string, unknown> = {},
): Promise<{ clientId: string; secret: string; status: string; certificate?: string }> {
  const { token } = await createEnrollmentToken(ctx.site.db, { name: 'test', actor: 'test' });
  const res = await tlsRequest(n.httpsUrl, {
    method: 'POST',
    path: '/v1/clients',
    ca: n.ca,
    body: registration({ csr: keys.csrPem, enrollmentToken: token, ...over }),
  });
  if (res.status !== 201) throw new Error(`registration: ${res.status} ${res.text}`);
  return res.json as unknown as {
    clientId: string;
    secret: string;
    status: string;
    certificate?: string;
  };
}

function syncOverTls(n: Native, keys: ClientKeys, cert: string, anchor?: string) {
  return tlsRequest(n.httpsUrl, {
    path: anchor === undefined ? '/v1/sync' : `/v1/sync?anchor=${encodeURIComponent(anchor)}`,
    ca: n.ca,
    key: keys.keyPem,
    cert,
  });
}

async function deployOne(ctx: SiteContext): Promise<string> {
  const a = await publishBytes(
    ctx.site,
    'payload-native',
    fileManifest('a.bin', { title: 'A', product: 'A', version: '1.0' }),
    'a.bin',
  );
  await ctx.site.deployments.approve(
    { updateId: a.updateId, group: 'All Computers', action: 'install' },
    'test',
  );
  return a.updateId;
}

dbTest(
  'native: a CSR at registration, the certificate in the answer, sync over mutual TLS without a secret',
  async (t, ctx) => {
    const updateId = await deployOne(ctx);
    await withServer(ctx, 'native', async (n) => {
      const keys = clientKeys();
      const reg = await enrol(ctx, n, keys);
      t.is(reg.status, 'approved');
      const cert = reg.certificate ?? '';
      const parsed = forge.pki.certificateFromPem(cert);
      t.is(parsed.subject.getField('CN')?.value, reg.clientId);
      t.true(forge.pki.certificateFromPem(n.ca).verify(parsed));

      const first = await syncOverTls(n, keys, cert);
      t.is(first.status, 200, first.text);
      const policy = first.json['policy'] as {
        signed: { deployments: Array<{ updateId: string }> };
      };
      t.deepEqual(
        policy.signed.deployments.map((d) => d.updateId),
        [updateId],
      );
      const again = await syncOverTls(n, keys, cert, first.json['anchor'] as string);
      t.is(again.status, 304);

      // The same certificate through the certificate route, over mTLS and with the secret over HTTP.
      const viaTls = await tlsRequest(n.httpsUrl, {
        path: `/v1/clients/${reg.clientId}/certificate`,
        ca: n.ca,
        key: keys.keyPem,
        cert,
      });
      t.is(viaTls.json['certificate'], cert);
      const viaSecret = await request(n.running.server)
        .get(`/v1/clients/${reg.clientId}/certificate`)
        .set('Authorization', `Bearer ${reg.secret}`);
      t.is(viaSecret.status, 200);
      t.is((viaSecret.body as { serial: string }).serial, parsed.serialNumber);

      // Re-registration over mTLS is the same client (trusted), not a new record.
      const re = await tlsRequest(n.httpsUrl, {
        method: 'POST',
        path: '/v1/clients',
        ca: n.ca,
        key: keys.keyPem,
        cert,
        body: registration({ name: 'renamed' }),
      });
      t.is(re.status, 201, re.text);
      t.is(re.json['clientId'], reg.clientId);
      t.is((await ctx.site.clients.list()).length, 1);
      // Audited: over mutual TLS without the secret, a new secret was issued.
      const audited = (await ctx.site
        .db('audit_log')
        .where({ action: 'client.reregister', target: reg.clientId })
        .select('detail')) as Array<{ detail: string }>;
      t.like(JSON.parse(audited[0]?.detail ?? '{}'), { by: 'certificate', newSecret: true });
      t.is(audited.length, 1);

      // Native mode registers with a request, and refuses a malformed one.
      const noCsr = await tlsRequest(n.httpsUrl, {
        method: 'POST',
        path: '/v1/clients',
        ca: n.ca,
        body: registration({ hardwareId: 'hw-2' }),
      });
      t.is(noCsr.status, 400);
      t.is(noCsr.json.error?.code, 'invalid_input');
      const badCsr = await tlsRequest(n.httpsUrl, {
        method: 'POST',
        path: '/v1/clients',
        ca: n.ca,
        body: registration({
          hardwareId: 'hw-3',
          csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
        }),
      });
      t.is(badCsr.status, 400);
      t.regex(badCsr.json.error?.message ?? '', /csr/);
    });
  },
);

dbTest('native: manual approval issues the certificate; the client fetches it', async (t, ctx) => {
  await withServer(ctx, 'native', async (n) => {
    ctx.site.config.site.approval = 'manual';
    const keys = clientKeys();
    const reg = await enrol(ctx, n, keys);
    t.is(reg.status, 'pending');
    t.is(reg.certificate, undefined);
    const path_ = `/v1/clients/${reg.clientId}/certificate`;
    const before = await tlsRequest(n.httpsUrl, {
      path: path_,
      ca: n.ca,
      headers: { Authorization: `Bearer ${reg.secret}` },
    });
    t.is(before.status, 404);
    t.is(before.json.error?.code, 'not_found');

    await ctx.site.clients.approve(reg.clientId, 'test');
    const after = await tlsRequest(n.httpsUrl, {
      path: path_,
      ca: n.ca,
      headers: { Authorization: `Bearer ${reg.secret}` },
    });
    t.is(after.status, 200);
    const synced = await syncOverTls(n, keys, after.json['certificate'] as string);
    t.is(synced.status, 200, synced.text);
    t.is((synced.json['policy'] as { signed: { status: string } }).signed.status, 'approved');

    // Another client's certificate is not yours to read.
    const other = await tlsRequest(n.httpsUrl, {
      path: `/v1/clients/00000000-0000-4000-8000-000000000000/certificate`,
      ca: n.ca,
      headers: { Authorization: `Bearer ${reg.secret}` },
    });
    t.is(other.status, 403);
  });
});

dbTest('native: a certificate the site did not issue is not an identity', async (t, ctx) => {
  await withServer(ctx, 'native', async (n) => {
    const keys = clientKeys();
    const reg = await enrol(ctx, n, keys);
    const impostor = selfSigned(keys.keyPem);
    const res = await syncOverTls(n, keys, impostor);
    t.is(res.status, 401);
    t.is(res.json.error?.code, 'unauthorized');
    // Its secret does not stand in for the certificate: native mode syncs over mutual TLS only.
    const withSecret = await tlsRequest(n.httpsUrl, {
      path: '/v1/sync',
      ca: n.ca,
      key: keys.keyPem,
      cert: impostor,
      headers: { Authorization: `Bearer ${reg.secret}` },
    });
    t.is(withSecret.status, 403);
    t.is(withSecret.json.error?.code, 'certificate_required');
    // No certificate and no secret: 401.
    const none = await tlsRequest(n.httpsUrl, { path: '/v1/sync', ca: n.ca });
    t.is(none.status, 401);
  });
});

dbTest(
  'native: blocking revokes the certificate: 403, listed in the CRL (openssl agrees); unblock re-issues',
  async (t, ctx) => {
    await withServer(ctx, 'native', async (n) => {
      const keys = clientKeys();
      const reg = await enrol(ctx, n, keys);
      const cert = reg.certificate ?? '';
      const serial = forge.pki.certificateFromPem(cert).serialNumber;
      const emptyCrl = await fetch(`${n.running.url}/pki/crl`);
      t.is(emptyCrl.status, 200);
      t.is(emptyCrl.headers.get('content-type'), 'application/pkix-crl');
      await ctx.site.clients.block(reg.clientId, 'test');

      const refused = await syncOverTls(n, keys, cert);
      t.is(refused.status, 403);
      t.is(refused.json.error?.code, 'client_blocked');
      const status = await tlsRequest(n.httpsUrl, {
        method: 'POST',
        path: '/v1/status',
        ca: n.ca,
        key: keys.keyPem,
        cert,
        body: { messages: [] },
      });
      t.is(status.status, 403);

      const crl = Buffer.from(await (await fetch(`${n.running.url}/pki/crl`)).arrayBuffer());
      await opensslChecks(t, ctx, n.ca, crl, cert, serial);

      await ctx.site.clients.unblock(reg.clientId, 'test');
      const stillRevoked = await syncOverTls(n, keys, cert);
      t.is(stillRevoked.status, 403);
      const renewed = await tlsRequest(n.httpsUrl, {
        path: `/v1/clients/${reg.clientId}/certificate`,
        ca: n.ca,
        headers: { Authorization: `Bearer ${reg.secret}` },
      });
      t.is(renewed.status, 200);
      t.not(renewed.json['certificate'], cert);
      t.is((await syncOverTls(n, keys, renewed.json['certificate'] as string)).status, 200);
    });
  },
);

async function opensslChecks(
  t: ExecutionContext,
  ctx: SiteContext,
  ca: string,
  der: Buffer,
  cert: string,
  serial: string,
): Promise<void> {
  const files = {
    ca: path.join(ctx.home, 'ca.pem'),
    crl: path.join(ctx.home, 'crl.pem'),
    client: path.join(ctx.home, 'client.pem'),
  };
  await writeFile(files.ca, ca);
  await writeFile(files.crl, crlToPem(der));
  await writeFile(files.client, cert);
  const text = await run('openssl', [
    'crl',
    '-in',
    files.crl,
    '-CAfile',
    files.ca,
    '-noout',
    '-text',
  ]);
  t.regex(text.stdout + text.stderr, /verify OK/);
  t.true(text.stdout.toUpperCase().includes(serial.toUpperCase()), text.stdout);
  const verify = await run('openssl', [
    'verify',
    '-crl_check',
    '-CRLfile',
    files.crl,
    '-CAfile',
    files.ca,
    files.client,
  ]).catch((err: { stdout?: string; stderr?: string }) => ({
    stdout: err.stdout ?? '',
    stderr: err.stderr ?? '',
  }));
  t.regex(verify.stdout + verify.stderr, /certificate revoked/);
}

dbTest(
  'native: sync and status refuse a secret (certificate_required) on both listeners; the certificate route takes it',
  async (t, ctx) => {
    const keys = clientKeys();
    let reg: Awaited<ReturnType<typeof enrol>> | undefined;
    let anchor = '';
    await withServer(ctx, 'native', async (n) => {
      reg = await enrol(ctx, n, keys);
      const synced = await syncOverTls(n, keys, reg.certificate ?? '');
      t.is(synced.status, 200);
      anchor = synced.json['anchor'] as string;
    });
    const { secret, clientId } = reg ?? { secret: '', clientId: '' };
    // A new server: its sync fast path loads every client with a secret at start, so a secret
    // with a current anchor over plain HTTP must still be refused, not answered from memory.
    await withServer(ctx, 'native', async (n) => {
      await eventually(() => ctx.site.syncFast.size >= 1);
      const auth = { Authorization: `Bearer ${secret}` };
      const plain = [
        await request(n.running.server).get('/v1/sync').query({ anchor }).set(auth),
        await request(n.running.server).get('/v1/sync').set(auth),
        await request(n.running.server)
          .post('/v1/status')
          .set(auth)
          .send({ messages: [{ id: 'm-1', topic: 'client', state: 'cannot_reach_site' }] }),
      ];
      for (const res of plain) {
        t.is(res.status, 403);
        t.is((res.body as { error: { code: string } }).error.code, 'certificate_required');
      }
      const overTls = await tlsRequest(n.httpsUrl, {
        path: '/v1/sync',
        ca: n.ca,
        headers: auth,
      });
      t.is(overTls.status, 403);
      t.is(overTls.json.error?.code, 'certificate_required');
      t.is(ctx.site.syncFast.hits, 0);
      t.deepEqual(await ctx.site.db('state_messages').select('message_id'), []);
      // What a client needs before it holds a certificate still takes the secret.
      const cert = await request(n.running.server)
        .get(`/v1/clients/${clientId}/certificate`)
        .set(auth);
      t.is(cert.status, 200);
      // No credentials at all is still 401; the certificate is still the identity.
      t.is((await request(n.running.server).get('/v1/sync')).status, 401);
      t.is((await syncOverTls(n, keys, reg?.certificate ?? '', anchor)).status, 304);
    });
  },
);

async function eventually(ok: () => boolean): Promise<void> {
  const until = Date.now() + 5_000;
  while (!ok() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

dbTest('mixed and native at once: secrets over HTTP, certificates over HTTPS', async (t, ctx) => {
  ctx.site.config.site.approval = 'auto-all';
  await withServer(ctx, 'mixed', async (n) => {
    const app = createApp(ctx.site);
    // A mixed-mode client: no request, a secret, plain HTTP.
    const mixed = await request(n.running.server)
      .post('/v1/clients')
      .send(registration({ hardwareId: 'hw-mixed' }));
    t.is(mixed.status, 201);
    t.is((mixed.body as { certificate?: string }).certificate, undefined);
    const mixedSync = await request(app)
      .get('/v1/sync')
      .set('Authorization', `Bearer ${(mixed.body as { secret: string }).secret}`);
    t.is(mixedSync.status, 200);
    // Mixed mode with both listeners: a secret is as good over HTTPS as over HTTP.
    const mixedOverTls = await tlsRequest(n.httpsUrl, {
      path: '/v1/sync',
      ca: n.ca,
      headers: { Authorization: `Bearer ${(mixed.body as { secret: string }).secret}` },
    });
    t.is(mixedOverTls.status, 200);

    // A certificate client on the same site, over the HTTPS listener.
    const keys = clientKeys();
    const reg = await enrol(ctx, n, keys, { hardwareId: 'hw-native' });
    t.is(reg.status, 'approved');
    const synced = await syncOverTls(n, keys, reg.certificate ?? '');
    t.is(synced.status, 200, synced.text);
    t.is((synced.json['policy'] as { signed: { clientId: string } }).signed.clientId, reg.clientId);
    // The public catalog answers on both listeners.
    const site = await tlsRequest(n.httpsUrl, { path: '/v1/site', ca: n.ca });
    t.is(site.json['mode'], 'mixed');
  });
});

dbTest(
  'native: /v1/site publishes the HTTPS port, and a client certificate unlocks sensitive properties',
  async (t, ctx) => {
    ctx.site.config.site.installationProperties = {
      SMSMP: { value: 'mp.example.test', sensitive: false },
      JOINKEY: { value: 's3cret-join-key', sensitive: true },
    };
    await withServer(ctx, 'native', async (n) => {
      const keys = clientKeys();
      const reg = await enrol(ctx, n, keys);
      const anonymous = await tlsRequest(n.httpsUrl, { path: '/v1/site', ca: n.ca });
      t.is(anonymous.json['httpsPort'], Number(new URL(n.httpsUrl).port));
      t.deepEqual(anonymous.json['installationProperties'], { SMSMP: 'mp.example.test' });
      const certified = await tlsRequest(n.httpsUrl, {
        path: '/v1/site',
        ca: n.ca,
        key: keys.keyPem,
        cert: reg.certificate ?? '',
      });
      t.deepEqual(certified.json['installationProperties'], {
        SMSMP: 'mp.example.test',
        JOINKEY: 's3cret-join-key',
      });
      await ctx.site.clients.block(reg.clientId, 'test');
      const blocked = await tlsRequest(n.httpsUrl, {
        path: '/v1/site',
        ca: n.ca,
        key: keys.keyPem,
        cert: reg.certificate ?? '',
      });
      t.deepEqual(blocked.json['installationProperties'], { SMSMP: 'mp.example.test' });
    });
  },
);
