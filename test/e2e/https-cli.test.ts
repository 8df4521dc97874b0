import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { runCli, type CliResult } from '../helpers/cli.js';
import { forwardRequest } from '../helpers/loopback-proxy.js';
import { serveCli } from '../helpers/served-cli.js';
import { selfSigned } from '../helpers/tls-client.js';

/** A self-signed certificate for 127.0.0.1: the trust anchor the CLI is given, and the server's. */
function loopbackCertificate(): { key: string; cert: string } {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return {
    key: privateKey,
    cert: selfSigned(privateKey, { commonName: 'upcat test proxy', ip: '127.0.0.1' }),
  };
}

/** TLS in front of the plain-HTTP server, as a reverse proxy would put it. */
async function tlsProxy(
  upstream: URL,
  tls: { key: string; cert: string },
): Promise<{ url: string; close(): Promise<void> }> {
  const server = https.createServer(tls, (req, res) => forwardRequest(upstream, req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const ok = (r: CliResult): string => {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdout;
};

// node:https is loaded only for https:// URLs (src/https-client.ts): these are its paths.
test('verify and a remote command over https://, trusting the CA they are given, and refusing without it', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-https-cli-'));
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: home, UPCAT_HOME: home };
  ok(await runCli(['init', '--json'], env));
  const { token } = JSON.parse(
    ok(await runCli(['token', 'create', '--scope', 'admin', '--name', 'tls', '--json'], env)),
  ) as { token: string };
  const tls = loopbackCertificate();
  const caFile = path.join(home, 'proxy-ca.pem');
  await writeFile(caFile, tls.cert);
  const server = await serveCli(env);
  const proxy = await tlsProxy(new URL(server.url), tls);
  try {
    const trusting = { ...env, NODE_EXTRA_CA_CERTS: caFile };
    const verified = JSON.parse(
      ok(await runCli(['verify', '--json', '--server', proxy.url], trusting)),
    ) as { ok: boolean };
    t.true(verified.ok);
    const clients = JSON.parse(
      ok(
        await runCli(
          ['clients', 'list', '--json', '--server', proxy.url, '--token', token],
          trusting,
        ),
      ),
    ) as unknown[];
    t.deepEqual(clients, []);

    for (const args of [
      ['verify', '--json', '--server', proxy.url],
      ['clients', 'list', '--json', '--server', proxy.url, '--token', token],
    ]) {
      const refused = await runCli(args, env);
      t.not(refused.code, 0, args.join(' '));
      // The error is one line, the last (verify says first that it trusts the served root).
      const lines = refused.stderr.trim().split('\n');
      t.regex(
        lines.at(-1) ?? '',
        /^upcat: .*self-signed certificate.*set NODE_EXTRA_CA_CERTS to its certificate/,
        refused.stderr,
      );
      t.true(
        lines.every((l) => l.startsWith('upcat: ')),
        refused.stderr,
      );
    }
  } finally {
    await proxy.close();
    await server.stop();
  }
});
