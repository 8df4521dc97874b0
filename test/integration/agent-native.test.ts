import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { pino } from 'pino';
import { runCycle, type AgentOptions, type CycleReport } from '../../src/agent/cycle.js';
import { certificateRequest, clientKey } from '../../src/agent/native.js';
import { agentStatus } from '../../src/agent/status.js';
import { verifiedCertificateSerial } from '../../src/server/middleware/client-auth.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { createEnrollmentToken } from '../../src/site/enrollment.js';
import { SITE_VERSION } from '../../src/version.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest, type SiteContext } from '../helpers/site.js';

/**
 * Native mode in the agent (issue 5 item 6, docs/AGENT.md "Native mode"): against a native-mode
 * site served in process (HTTP and HTTPS listeners), the agent makes a key, registers with a
 * certificate request, gets its certificate (with the registration answer or once approved),
 * and from then on syncs, reads TUF metadata and payloads, and reports over mutual TLS.
 */

interface Native {
  running: RunningServer;
  httpsUrl: string;
  /** Requests that reached the plain-HTTP listener. */
  httpRequests: string[];
  /** Requests that reached the HTTPS listener, with whether a verified client certificate came along. */
  httpsRequests: Array<{ path: string; certificate: boolean }>;
}

async function withNativeSite(
  t: ExecutionContext,
  ctx: SiteContext,
  fn: (
    n: Native,
    agent: (over?: Partial<AgentOptions>) => Promise<CycleReport>,
    stateDir: string,
  ) => Promise<void>,
): Promise<void> {
  ctx.site.config.site.mode = 'native';
  ctx.site.config.server.https = true;
  // The site-issued server certificate names the address the agent dials.
  ctx.site.config.server.tlsNames = ['127.0.0.1'];
  const running = await startServer(ctx.site, { host: '127.0.0.1', port: 0, httpsPort: 0 });
  const httpsUrl = running.https?.url ?? '';
  const n: Native = { running, httpsUrl, httpRequests: [], httpsRequests: [] };
  running.server.on('request', (req: IncomingMessage) => n.httpRequests.push(req.url ?? ''));
  // The server's own test of an identity: a verified certificate with a serial (a resumed TLS
  // session can be "authorized" without any certificate).
  running.https?.server.on('request', (req: IncomingMessage) => {
    const certificate = verifiedCertificateSerial(req.socket) !== undefined;
    n.httpsRequests.push({ path: req.url ?? '', certificate });
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-agent-native-'));
  try {
    const inventory = path.join(dir, 'inventory.json');
    await writeFile(
      inventory,
      JSON.stringify({ platform: { name: 'linux', version: '12', architecture: 'x64' } }),
    );
    const markers = path.join(dir, 'markers');
    await mkdir(markers);
    const stateDir = path.join(dir, 'state');
    const base: AgentOptions = {
      stateDir,
      server: running.url,
      httpsPort: Number(new URL(httpsUrl).port),
      inventory,
      hardwareId: 'hw-native-agent',
      name: 'pc-native',
      properties: { markerDir: markers },
      installOptional: false,
      handlerTimeoutMs: 60_000,
      agentVersion: SITE_VERSION,
      log: pino({ level: 'silent' }),
      env: {},
    };
    await fn(n, (over = {}) => runCycle({ ...base, ...over }), stateDir);
  } finally {
    await running.close();
    await rm(dir, { recursive: true, force: true });
  }
  t.pass();
}

async function deploy(ctx: SiteContext, name: string): Promise<string> {
  const script = `#!/bin/sh\necho "${name}" >> "$UPCAT_PROPERTY_markerDir/log"\n`;
  const published = await publishBytes(
    ctx.site,
    script,
    fileManifest(`${name}.sh`, {
      title: name,
      product: name,
      handler: { type: 'commandLine', program: `${name}.sh` },
    }),
    `${name}.sh`,
  );
  await ctx.site.deployments.approve(
    { updateId: published.updateId, group: 'All Computers', action: 'install' },
    'test',
  );
  return published.updateId;
}

const stateOf = async (stateDir: string): Promise<Record<string, unknown>> =>
  JSON.parse(await readFile(path.join(stateDir, 'state.json'), 'utf8')) as Record<string, unknown>;

const serialOf = async (stateDir: string): Promise<string> =>
  new X509Certificate(await readFile(path.join(stateDir, 'client.pem'), 'utf8')).serialNumber;

dbTest(
  'native agent: enrols with a request, installs over mutual TLS; block revokes and refuses; unblock renews',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-trusted';
    const { token } = await createEnrollmentToken(ctx.site.db, { name: 'agents', actor: 'test' });
    const first = await deploy(ctx, 'native-one');
    await withNativeSite(t, ctx, async (n, agent, stateDir) => {
      const report = await agent({ enrollmentToken: token });
      t.is(report.mode, 'native');
      t.is(report.status, 'approved');
      t.true(report.clientCertificate);
      t.is(report.results.find((r) => r.updateId === first)?.state, 'installed');
      t.is(report.messagesQueued, 0);

      // The key stays private; the certificate is the site CA's, for this client.
      t.is((await stat(path.join(stateDir, 'client.key'))).mode & 0o777, 0o600);
      const cert = new X509Certificate(await readFile(path.join(stateDir, 'client.pem'), 'utf8'));
      t.regex(cert.subject, new RegExp(`CN=${report.clientId ?? 'none'}`));
      t.true(cert.checkIssued(new X509Certificate(ctx.site.signing?.caCertificatePem ?? '')));
      t.is((await stateOf(stateDir))['nativeServer'], n.httpsUrl);

      // Only GET /v1/site and the CA went over plain HTTP (first contact); sync, TUF metadata,
      // the payload, its signature and the status report went over TLS with the certificate.
      t.deepEqual(n.httpRequests, ['/v1/site', '/pki/ca.pem']);
      const withCert = n.httpsRequests.filter((r) => r.certificate).map((r) => r.path);
      t.true(withCert.some((p) => p.startsWith('/v1/sync')));
      t.true(withCert.some((p) => p.startsWith('/tuf/')));
      t.true(withCert.some((p) => /^\/content\/[0-9a-f]{64}$/.test(p)));
      t.true(withCert.includes('/v1/status'));
      const history = await ctx.site.reports.clientHistory(report.clientId ?? '');
      t.true(history.some((m) => m.updateId === first && m.state === 'installed'));

      // Later cycles start on the HTTPS port: nothing more over plain HTTP.
      const second = await deploy(ctx, 'native-two');
      const again = await agent();
      t.is(again.results.find((r) => r.updateId === second)?.state, 'installed');
      t.is(n.httpRequests.length, 2);

      // Blocked: the certificate is revoked, the site refuses the agent.
      const serial = await serialOf(stateDir);
      await ctx.site.clients.block(report.clientId ?? '', 'test');
      await t.throwsAsync(agent(), { message: /client_blocked/ });
      const row = (await ctx.site
        .db('client_certificates')
        .where({ serial: serial.toLowerCase().replace(/^0+(?=.)/, '') })
        .first('revoked_at')) as { revoked_at: string | null } | undefined;
      t.not(row?.revoked_at ?? null, null, 'the certificate the agent holds is revoked');

      // Unblocked: the site issued a new certificate from the stored request; the agent takes it.
      await ctx.site.clients.unblock(report.clientId ?? '', 'test');
      const back = await agent();
      t.is(back.status, 'approved');
      t.true(back.clientCertificate);
      t.not(await serialOf(stateDir), serial);

      // The certificate alone is the identity: without its secret the agent still syncs.
      const state = await stateOf(stateDir);
      delete state['secret'];
      await writeFile(path.join(stateDir, 'state.json'), JSON.stringify(state));
      const third = await deploy(ctx, 'native-three');
      const certOnly = await agent();
      t.is(certOnly.results.find((r) => r.updateId === third)?.state, 'installed');
      t.is(certOnly.messagesQueued, 0);
    });
  },
);

dbTest(
  'native agent: pending approval, no certificate and no sync; approval issues it and the agent fetches it',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'manual';
    const updateId = await deploy(ctx, 'native-gated');
    await withNativeSite(t, ctx, async (n, agent, stateDir) => {
      const pending = await agent();
      t.is(pending.status, 'pending');
      t.false(pending.clientCertificate);
      t.deepEqual(pending.results, []);
      let status = await agentStatus(stateDir);
      t.is(status.certificate, null);
      t.not(status.nativeServer, null);
      t.regex(status.note ?? '', /waiting for approval/);

      t.false(n.httpsRequests.some((r) => r.certificate));
      t.false(
        [...n.httpRequests, ...n.httpsRequests.map((r) => r.path)].some((p) =>
          /^\/v1\/(sync|status)/.test(p),
        ),
        'sync and status take a certificate on a native site: the agent does not try with its secret',
      );

      await ctx.site.clients.approve(pending.clientId ?? '', 'test');
      const approved = await agent();
      t.true(n.httpsRequests.some((r) => r.certificate && r.path.startsWith('/v1/sync')));
      t.true(approved.clientCertificate);
      t.is(approved.status, 'approved');
      t.is(approved.results.find((r) => r.updateId === updateId)?.state, 'installed');
      status = await agentStatus(stateDir);
      t.is(status.certificate?.serial, (await serialOf(stateDir)).toLowerCase());
    });
  },
);

dbTest(
  'native agent: a record replaced by a proven registration enrols again by itself and waits as a conflict',
  async (t, ctx) => {
    ctx.site.config.site.approval = 'auto-trusted';
    const { token } = await createEnrollmentToken(ctx.site.db, { name: 'agents', actor: 'test' });
    await withNativeSite(t, ctx, async (_n, agent, stateDir) => {
      const first = await agent({ enrollmentToken: token });
      t.is(first.status, 'approved');
      t.true(first.clientCertificate);

      // Re-imaging with an enrollment token proves the machine: it replaces the record.
      const otherDir = await mkdtemp(path.join(os.tmpdir(), 'upcat-agent-native-other-'));
      try {
        const other = await ctx.site.registration.register({
          hardwareId: 'hw-native-agent',
          name: 'pc-native-reimaged',
          os: 'linux',
          architecture: 'x64',
          clientVersion: SITE_VERSION,
          enrollmentToken: token,
          csr: certificateRequest(await clientKey(otherDir), 'pc-native-reimaged'),
        });
        t.is((await ctx.site.clients.get(first.clientId ?? '')).recordState, 'obsolete');

        // The old machine's next cycle is told client_replaced and enrols again on its own,
        // with a request over TLS and without the dead certificate; with no proof of its own it
        // waits as a conflict with the record that replaced it, which keeps working.
        const again = await agent();
        t.true(again.warnings.some((w) => /client_replaced/.test(w)));
        t.not(again.clientId, first.clientId);
        t.is(again.status, 'conflict');
        t.false(again.clientCertificate);
        t.is((await ctx.site.clients.get(again.clientId ?? '')).conflictWith, other.clientId);
        t.is((await ctx.site.clients.get(other.clientId)).recordState, 'active');
        await t.throwsAsync(readFile(path.join(stateDir, 'client.pem')), { code: 'ENOENT' });

        // Later cycles wait quietly under the new record (no refusal, no sync without approval).
        const later = await agent();
        t.is(later.clientId, again.clientId);
        t.false(later.warnings.some((w) => /client_replaced/.test(w)));
      } finally {
        await rm(otherDir, { recursive: true, force: true });
      }
    });
  },
);
