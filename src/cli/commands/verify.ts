import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { UpcatError, invalidInput } from '../../errors.js';
import {
  verifyCatalog,
  type VerifyReport,
  type VerifySelection,
} from '../../verify/verify-catalog.js';
import { withSite, output } from '../context.js';
import { fetchBounded } from '../../verify/enumerate.js';

interface VerifyOptions {
  server?: string;
  root?: string;
  signatures: boolean;
  json?: boolean;
  update?: string;
  revision?: string;
  target: string[];
  stateDir?: string;
}

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const TARGET_NAME = /^(payloads\/[0-9a-f]{64}|updates\/[0-9a-fA-F-]{36}\.xml)$/;

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
    .option('--no-signatures', 'skip the CMS signature check of payloads')
    .option(
      '--update <id>',
      'check only this update: its signed document and the payloads it names (not every target)',
    )
    .option('--revision <n>', 'with --update: the signed document must be this revision')
    .option(
      '--target <name>',
      'check only this target (payloads/<sha256> or updates/<id>.xml); repeatable',
      (value: string, list: string[]) => [...list, value],
      [],
    )
    .option(
      '--state-dir <dir>',
      'keep the metadata verified here, as a client does: a later run refuses an older timestamp or snapshot (rollback) and starts from the newest verified root',
    )
    .option('--json', 'print the report as JSON')
    .action(async (opts: VerifyOptions, cmd: Command) => {
      const only = selectionOf(opts);
      const report =
        opts.server !== undefined
          ? await verifyRemote(opts, only)
          : await verifyLocal(opts, cmd, only);
      output(opts.json, report, () =>
        !report.ok
          ? report.problems.map((p) => `problem: ${p}`).join('\n')
          : only === undefined
            ? `catalog verified: ${report.targets} targets, ${report.payloads} payloads, ${report.signaturesChecked} signatures`
            : `signed and verified: ${report.checked.join(', ')} (${report.signaturesChecked} CMS signatures checked)`,
      );
      if (!report.ok) {
        throw new UpcatError(
          'integrity',
          `catalog verification failed: ${report.problems.length} problem(s), first: ${report.problems[0] ?? ''}`,
        );
      }
    });
}

/** The targeted check, when --update or --target is given; undefined: every target. */
function selectionOf(opts: VerifyOptions): VerifySelection | undefined {
  if (opts.revision !== undefined && opts.update === undefined)
    throw invalidInput('--revision: only meaningful with --update');
  if (opts.update !== undefined && !GUID.test(opts.update))
    throw invalidInput(`--update: "${opts.update}" is not an update ID (GUID)`);
  if (opts.revision !== undefined && !/^[1-9]\d{0,8}$/.test(opts.revision))
    throw invalidInput(`--revision: "${opts.revision}" is not a revision number`);
  for (const name of opts.target)
    if (!TARGET_NAME.test(name))
      throw invalidInput(
        `--target: "${name}" is not a target name (payloads/<sha256> or updates/<id>.xml)`,
      );
  if (opts.update === undefined && opts.target.length === 0) return undefined;
  return {
    ...(opts.update === undefined
      ? {}
      : {
          update: {
            id: opts.update.toLowerCase(),
            ...(opts.revision === undefined ? {} : { revision: Number(opts.revision) }),
          },
        }),
    targets: opts.target,
  };
}

async function verifyRemote(
  opts: VerifyOptions,
  only: VerifySelection | undefined,
): Promise<VerifyReport> {
  const baseUrl = (opts.server ?? '').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(baseUrl))
    throw invalidInput(`--server: "${opts.server}" is not an http(s) URL`);
  let trustedRoot: Buffer;
  if (opts.root !== undefined) trustedRoot = await readRoot(opts.root);
  else {
    // Trust on first use: say so, since the point of a pinned root is not to need this.
    process.stderr.write(`upcat: no --root given; trusting ${baseUrl}/tuf/1.root.json as served\n`);
    trustedRoot = await fetchBounded(`${baseUrl}/tuf/1.root.json`, MAX_ROOT_BYTES, '1.root.json');
  }
  return verifyCatalog({
    baseUrl,
    trustedRoot,
    checkSignatures: opts.signatures,
    ...stateDirOf(opts),
    ...(only === undefined ? {} : { only }),
  });
}

/** This site home: serve it on a loopback port for the duration, and compare with the database. */
async function verifyLocal(
  opts: VerifyOptions,
  cmd: Command,
  only: VerifySelection | undefined,
): Promise<VerifyReport> {
  // The server and the catalog's targets only for a local site: `verify --server` needs neither,
  // and the server's modules (express and the routes) are most of what this command would load.
  const [{ startServer }, { desiredCatalog }] = await Promise.all([
    import('../../server/serve.js'),
    import('../../publish/catalog-targets.js'),
  ]);
  return withSite(cmd, async (site) => {
    if (site.signing === undefined)
      throw invalidInput('this site has no signed catalog yet: run "upcat init"');
    // The site's own first root, from its metadata store (catalog/tuf/ or the database).
    const trustedRoot =
      opts.root !== undefined ? await readRoot(opts.root) : await site.metadata.read('1.root.json');
    if (trustedRoot === undefined)
      throw invalidInput(`no 1.root.json in ${site.metadata.label}: nothing was published yet`);
    const running = await startServer(site, { host: '127.0.0.1', port: 0, httpsPort: 0 });
    try {
      const baseUrl = `http://127.0.0.1:${(running.server.address() as AddressInfo).port}`;
      const expected = (await desiredCatalog(site.db)).targets.map((t) => t.name);
      return await verifyCatalog({
        baseUrl,
        trustedRoot,
        expected,
        checkSignatures: opts.signatures,
        ...stateDirOf(opts),
        ...(only === undefined ? {} : { only }),
      });
    } finally {
      await running.close();
    }
  });
}

/** As tuf-js bounds a root (its rootMaxLength). */
const MAX_ROOT_BYTES = 512 * 1024;

function stateDirOf(opts: VerifyOptions): { stateDir?: string } {
  return opts.stateDir === undefined ? {} : { stateDir: path.resolve(opts.stateDir) };
}

async function readRoot(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw invalidInput(`--root: cannot read ${file}: ${(err as Error).message}`);
  }
}
