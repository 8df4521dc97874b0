import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errnoCode } from '../errors.js';
import { enumerateTargets, fetchBounded, type SignedTargets } from './enumerate.js';
import type { VerifySelection } from './selection.js';
import { VerifyFetcher } from './tuf-fetcher.js';
import { tuf } from './tuf.js';

export type { VerifySelection } from './selection.js';

/**
 * Targets checked at once: enough that each write on a pipelined connection carries several
 * requests and each of the server's reads several (issue 16: 8 at once gave 1.2-1.5 requests per
 * write); small targets are held in memory, and large ones are streamed a few at a time anyway
 * (target-check.ts).
 */
const CONCURRENCY = 32;

export interface VerifyOptions {
  /** The site's base URL, e.g. http://127.0.0.1:8530. */
  baseUrl: string;
  /** The trusted root metadata (bytes of a root.json the verifier already trusts). */
  trustedRoot: Buffer;
  /** Target names the caller expects (the database's view); compared with what is signed. */
  expected?: readonly string[];
  /** Check each payload's detached CMS signature against the site CA (as the agent does). */
  checkSignatures?: boolean;
  /** Check only these (an update, named targets) instead of every target. */
  only?: VerifySelection;
  /**
   * Where the verifier keeps the metadata it trusted (`--state-dir`), as a client does: a later
   * run refuses a timestamp or snapshot older than one it has seen (rollback), and starts from
   * the newest root it has verified. Without it, every run starts from `trustedRoot` alone.
   */
  stateDir?: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Targets in the signed catalog (every mode: the enumeration reads metadata only). */
  targets: number;
  payloads: number;
  signaturesChecked: number;
  /** The targets downloaded and verified, in order. */
  checked: string[];
  problems: string[];
}

/**
 * `upcat verify` (issue 3 item 8): walks the published catalog as an independent client would.
 * tuf-js refreshes from the trusted root (signatures, thresholds, versions, expiries, rollback),
 * then every target (or only the selected ones) is resolved through it and downloaded (length
 * and hashes against its signed entry), several at a time, and each payload's detached CMS
 * signature is checked against the site CA. Every mismatch is named.
 */
export async function verifyCatalog(options: VerifyOptions): Promise<VerifyReport> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-verify-'));
  try {
    const metadataDir = options.stateDir ?? work;
    await mkdir(metadataDir, { recursive: true, mode: 0o700 });
    // A root already verified in the state (maybe rotated since) wins over the one passed in.
    await writeFile(path.join(metadataDir, 'root.json'), options.trustedRoot, { flag: 'wx' }).catch(
      (err: unknown) => {
        if (errnoCode(err) !== 'EEXIST') throw err;
      },
    );
    const updater = new tuf.Updater({
      metadataDir,
      metadataBaseUrl: `${options.baseUrl}/tuf`,
      targetBaseUrl: `${options.baseUrl}/tuf/targets`,
      targetDir: work,
      fetcher: new VerifyFetcher(30_000),
    });
    try {
      await updater.refresh();
    } catch (err) {
      const problems = [`metadata: ${(err as Error).message}`];
      return { ok: false, targets: 0, payloads: 0, signaturesChecked: 0, checked: [], problems };
    }
    let names: string[];
    let entries: SignedTargets['entries'];
    try {
      ({ names, entries } = await enumerateTargets(options.baseUrl, metadataDir));
    } catch (err) {
      const problems = [`metadata: ${(err as Error).message}`];
      return { ok: false, targets: 0, payloads: 0, signaturesChecked: 0, checked: [], problems };
    }
    // A refusal throws: else an error page would be taken for the CA and every payload reported
    // as badly signed.
    const caPem =
      options.checkSignatures === true
        ? (await fetchBounded(`${options.baseUrl}/pki/ca.pem`, 1024 * 1024, 'site CA')).toString()
        : undefined;
    const problems: string[] = [];
    if (options.expected !== undefined) compareSets(options.expected, names, problems);
    if (names.length === 0 && options.only === undefined)
      return {
        ok: problems.length === 0,
        targets: 0,
        payloads: 0,
        signaturesChecked: 0,
        checked: [],
        problems,
      };
    // Loaded only when there is a target to download: the target checks bring the CMS check's
    // modules, which a run over an empty catalog never uses (issue 16).
    const [{ TargetChecker }, { verifySelection }] = await Promise.all([
      import('./target-check.js'),
      import('./selection.js'),
    ]);
    const checker = new TargetChecker({ updater, entries, baseUrl: options.baseUrl, work, caPem });
    checker.problems.push(...problems);
    if (options.only !== undefined) await verifySelection(checker, options.only);
    else await checker.checkAll(names, CONCURRENCY);
    return {
      ok: checker.problems.length === 0,
      targets: names.length,
      payloads: checker.payloads,
      signaturesChecked: checker.signaturesChecked,
      checked: checker.checked,
      problems: checker.problems,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function compareSets(
  expected: readonly string[],
  signed: readonly string[],
  problems: string[],
): void {
  const have = new Set(signed);
  const want = new Set(expected);
  for (const name of want)
    if (!have.has(name)) problems.push(`${name}: in the database but not in the signed catalog`);
  for (const name of have)
    if (!want.has(name)) problems.push(`${name}: signed but not in the database`);
}
