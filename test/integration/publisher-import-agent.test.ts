import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { pino } from 'pino';
import { openSite, type Site } from '../../src/app.js';
import { runCycle, type AgentOptions, type CycleReport } from '../../src/agent/cycle.js';
import { buildPackage } from '../../src/publish/package.js';
import { startServer } from '../../src/server/serve.js';
import { signDigest } from '../../src/signing/cms.js';
import { SITE_VERSION } from '../../src/version.js';
import { runCli } from '../helpers/cli.js';
import { makeOrgPki, opensslCmsVerify } from '../helpers/org-pki.js';
import { publishFile } from '../helpers/publish.js';
import { DATABASES, dropSchema, makeSite } from '../helpers/site.js';

/**
 * Issue 11 item 7 end to end: an agent that pinned the site CA before `upcat keys
 * import-publisher` installs the payloads the organization's certificate signs afterwards,
 * with no step on the endpoint, and still refuses a payload signed by an unrelated
 * organization's code-signing certificate; `upcat verify` (openssl against /pki/ca.pem) agrees.
 */
const run = promisify(execFile);

async function scripted(dir: string, product: string): Promise<string> {
  const src = path.join(dir, product.replace(/\s+/g, '-'));
  await mkdir(src, { recursive: true });
  await writeFile(
    path.join(src, 'install.sh'),
    `#!/bin/sh\necho "install ${product}" >> "$UPCAT_PROPERTY_markerDir/log"\n`,
    { mode: 0o755 },
  );
  const out = `${src}.zip`;
  await buildPackage({ dir: src, name: product, version: '1.0', out });
  return out;
}

async function publishApproved(site: Site, dir: string, product: string) {
  const published = await publishFile(site, await scripted(dir, product), {
    title: `${product} 1.0`,
    product,
    classification: 'Updates',
    version: '1.0',
    handler: { type: 'commandLine', program: 'install.sh' },
    isInstallable: { Platform: { Name: 'linux' } },
  });
  await site.deployments.approve(
    { updateId: published.updateId, group: 'All Computers', action: 'install' },
    'test',
  );
  return published;
}

const stateOf = (report: CycleReport, updateId: string) =>
  report.results.find((r) => r.updateId === updateId);

for (const kind of DATABASES) {
  test.serial(
    `an agent pinned before keys import-publisher installs org-signed payloads, refuses an unrelated signer; verify agrees [${kind}]`,
    async (t) => {
      const ctx = await makeSite(kind);
      const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-org-agent-'));
      let site = ctx.site;
      let running = await startServer(site, { host: '127.0.0.1', port: 0 });
      try {
        const port = (running.server.address() as AddressInfo).port;
        const markers = path.join(work, 'markers');
        await mkdir(markers);
        const inventory = path.join(work, 'inventory.json');
        await writeFile(
          inventory,
          JSON.stringify({ platform: { name: 'linux', version: '12', architecture: 'x64' } }),
        );
        const stateDir = path.join(work, 'state');
        const agent: AgentOptions = {
          stateDir,
          server: running.url,
          inventory,
          hardwareId: 'hw-org-publisher',
          name: 'pc-org',
          properties: { markerDir: markers },
          installOptional: false,
          handlerTimeoutMs: 60_000,
          agentVersion: SITE_VERSION,
          log: pino({ level: 'silent' }),
          env: {},
        };
        const log = async () =>
          (await readFile(path.join(markers, 'log'), 'utf8')).split('\n').filter((l) => l !== '');

        site.config.site.approval = 'auto-all';
        const before = await publishApproved(site, work, 'Contoso Before');
        const first = await runCycle(agent);
        t.is(stateOf(first, before.updateId)?.state, 'installed', JSON.stringify(first));
        const pinned = await readFile(path.join(stateDir, 'ca.pem'), 'utf8');
        t.is(pinned, site.signing?.caCertificatePem ?? '', 'the agent pinned the site CA');

        // The operator imports the organization's certificate (PFX: leaf, intermediate, root).
        await mkdir(path.join(work, 'org'));
        await mkdir(path.join(work, 'other'));
        const org = await makeOrgPki(path.join(work, 'org'), 'Contoso');
        const other = await makeOrgPki(path.join(work, 'other'), 'Fabrikam');
        // Without its issuer's certificate the site CA has nothing to cross-certify: refused,
        // in one line, with nothing installed (every agent would refuse the signatures).
        const lonely = await runCli(
          [
            'keys',
            'import-publisher',
            '--cert',
            org.file('leaf.pem'),
            '--key',
            org.file('leaf.key'),
          ],
          ctx.env,
        );
        t.not(lonely.code, 0);
        t.regex(lonely.stderr, /^[^\n]*give the certificate of its issuer[^\n]*\n?$/);
        await t.throwsAsync(stat(path.join(ctx.home, 'signing', 'pki', 'imported')));
        const imported = await runCli(
          ['keys', 'import-publisher', '--pfx', org.pfx, '--password-env', 'PFX_PASS', '--json'],
          { ...ctx.env, PFX_PASS: 'pfx pass' },
        );
        t.is(imported.code, 0, imported.stderr);
        await running.close();
        await site.close();
        site = await openSite({ home: ctx.home, env: ctx.env, logLevel: 'silent' });
        site.config.site.approval = 'auto-all';
        running = await startServer(site, { host: '127.0.0.1', port });

        // A new build, signed by the organization's certificate, installs on the same agent.
        const after = await publishApproved(site, work, 'Contoso After');
        const signature = site.pool.signaturePathOf(after.sha256);
        const signer = path.join(work, 'signer.pem');
        await opensslCmsVerify(
          signature,
          site.pool.pathOf(after.sha256),
          org.file('root.pem'),
          signer,
        );
        const subject = await run('openssl', ['x509', '-in', signer, '-noout', '-subject']);
        t.regex(subject.stdout, /CN ?= ?Contoso leaf/, 'signed by the organization certificate');
        const second = await runCycle(agent);
        t.is(stateOf(second, after.updateId)?.state, 'installed', JSON.stringify(second));
        t.deepEqual(await log(), ['install Contoso Before', 'install Contoso After']);
        t.is(await readFile(path.join(stateDir, 'ca.pem'), 'utf8'), pinned, 'nothing re-pinned');

        const verified = await runCli(['verify', '--json'], ctx.env);
        t.is(verified.code, 0, verified.stdout + verified.stderr);
        const report = JSON.parse(verified.stdout) as { ok: boolean; signaturesChecked: number };
        t.true(report.ok);
        t.is(report.signaturesChecked, 2);

        // A payload whose signature an unrelated organization's code-signing certificate made
        // (its own chain carried along) is refused by the agent and by upcat verify.
        const forged = await publishApproved(site, work, 'Contoso Forged');
        const stranger = {
          certificatePem: await other.pem('leaf.pem'),
          privateKeyPem: await other.pem('leaf.key'),
          chainPems: [await other.pem('intermediate.pem'), await other.pem('root.pem')],
        };
        const payload = await readFile(site.pool.pathOf(forged.sha256));
        await writeFile(
          site.pool.signaturePathOf(forged.sha256),
          signDigest(createHash('sha256').update(payload).digest(), stranger),
        );
        const third = await runCycle(agent);
        t.not(stateOf(third, forged.updateId)?.state, 'installed', JSON.stringify(third));
        t.regex(JSON.stringify(third), /signature refused: .*not issued by the site CA/);
        t.deepEqual(await log(), ['install Contoso Before', 'install Contoso After']);
        const refused = await runCli(['verify', '--json'], ctx.env);
        t.not(refused.code, 0);
        t.regex(
          refused.stdout,
          new RegExp(`payloads/${forged.sha256}: CMS signature does not verify`),
        );
      } finally {
        await running.close();
        await site.close();
        await dropSchema(ctx.env);
        await rm(ctx.home, { recursive: true, force: true });
        await rm(work, { recursive: true, force: true });
      }
    },
  );
}
