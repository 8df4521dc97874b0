import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { UpcatError, invalidInput } from '../../errors.js';
import { desiredCatalog } from '../../publish/catalog-targets.js';
import { startServer } from '../../server/serve.js';
import { verifyCatalog, type VerifyReport } from '../../verify/verify-catalog.js';
import { withSite, output } from '../context.js';

interface VerifyOptions {
  server?: string;
  root?: string;
  signatures: boolean;
  json?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'verify the published catalog as a client would: signatures, versions, expiries, every payload',
    )
    .option('--server <url>', 'verify a running site over HTTP instead of this site home')
    .option(
      '--root <root.json>',
      "the trusted root metadata (default: this site's 1.root.json; with --server, fetched from it)",
    )
    .option('--no-signatures', 'skip the CMS signature check of payloads (needs openssl)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: VerifyOptions, cmd: Command) => {
      const report =
        opts.server !== undefined ? await verifyRemote(opts) : await verifyLocal(opts, cmd);
      output(opts.json, report, () =>
        report.ok
          ? `catalog verified: ${report.targets} targets, ${report.payloads} payloads, ${report.signaturesChecked} signatures`
          : report.problems.map((p) => `problem: ${p}`).join('\n'),
      );
      if (!report.ok) {
        throw new UpcatError(
          'integrity',
          `catalog verification failed: ${report.problems.length} problem(s), first: ${report.problems[0] ?? ''}`,
        );
      }
    });
}

async function verifyRemote(opts: VerifyOptions): Promise<VerifyReport> {
  const baseUrl = (opts.server ?? '').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(baseUrl))
    throw invalidInput(`--server: "${opts.server}" is not an http(s) URL`);
  let trustedRoot: Buffer;
  if (opts.root !== undefined) trustedRoot = await readRoot(opts.root);
  else {
    // Trust on first use: say so, since the point of a pinned root is not to need this.
    process.stderr.write(`upcat: no --root given; trusting ${baseUrl}/tuf/1.root.json as served\n`);
    const res = await fetch(`${baseUrl}/tuf/1.root.json`, { signal: AbortSignal.timeout(30_000) });
    if (!res.ok)
      throw new UpcatError('integrity', `${baseUrl}/tuf/1.root.json answered ${res.status}`);
    trustedRoot = Buffer.from(await res.arrayBuffer());
  }
  return verifyCatalog({ baseUrl, trustedRoot, checkSignatures: opts.signatures });
}

/** This site home: serve it on a loopback port for the duration, and compare with the database. */
async function verifyLocal(opts: VerifyOptions, cmd: Command): Promise<VerifyReport> {
  return withSite(cmd, async (site) => {
    if (site.signing === undefined)
      throw invalidInput('this site has no signed catalog yet: run "upcat init"');
    const trustedRoot = await readRoot(opts.root ?? path.join(site.signing.repoDir, '1.root.json'));
    const running = await startServer(site, { host: '127.0.0.1', port: 0, httpsPort: 0 });
    try {
      const baseUrl = `http://127.0.0.1:${(running.server.address() as AddressInfo).port}`;
      const expected = (await desiredCatalog(site.db)).targets.map((t) => t.name);
      return await verifyCatalog({
        baseUrl,
        trustedRoot,
        expected,
        checkSignatures: opts.signatures,
      });
    } finally {
      await running.close();
    }
  });
}

async function readRoot(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw invalidInput(`--root: cannot read ${file}: ${(err as Error).message}`);
  }
}
