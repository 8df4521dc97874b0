import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Updater } from 'tuf-js';
import { enumerateTargets } from './enumerate.js';

const run = promisify(execFile);

export interface VerifyOptions {
  /** The site's base URL, e.g. http://127.0.0.1:8530. */
  baseUrl: string;
  /** The trusted root metadata (bytes of a root.json the verifier already trusts). */
  trustedRoot: Buffer;
  /** Target names the caller expects (the database's view); compared with what is signed. */
  expected?: readonly string[];
  /** Check each payload's CMS signature with `openssl cms -verify` against the site CA. */
  checkSignatures?: boolean;
}

export interface VerifyReport {
  ok: boolean;
  targets: number;
  payloads: number;
  signaturesChecked: number;
  problems: string[];
}

/**
 * `upcat verify` (issue 3 item 8): walks the published catalog as an independent client would.
 * tuf-js refreshes from the trusted root (signatures, thresholds, versions, expiries, rollback),
 * then every target is resolved and downloaded through it (length and hashes), and each payload's
 * detached CMS signature is checked by openssl against the site CA. Every mismatch is named.
 */
export async function verifyCatalog(options: VerifyOptions): Promise<VerifyReport> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-verify-'));
  const problems: string[] = [];
  let targets = 0;
  let payloads = 0;
  let signaturesChecked = 0;
  try {
    await writeFile(path.join(work, 'root.json'), options.trustedRoot);
    const updater = new Updater({
      metadataDir: work,
      metadataBaseUrl: `${options.baseUrl}/tuf`,
      targetBaseUrl: `${options.baseUrl}/tuf/targets`,
      targetDir: work,
      config: { fetchRetry: 1, fetchTimeout: 30_000 },
    });
    try {
      await updater.refresh();
    } catch (err) {
      problems.push(`metadata: ${(err as Error).message}`);
      return { ok: false, targets, payloads, signaturesChecked, problems };
    }
    const names = await enumerateTargets(options.baseUrl);
    targets = names.length;
    if (options.expected !== undefined) compareSets(options.expected, names, problems);
    const caFile =
      options.checkSignatures === true ? await fetchCa(options.baseUrl, work) : undefined;

    for (const name of names) {
      const file = path.join(work, 'target.bin');
      try {
        const info = await updater.getTargetInfo(name);
        if (info === undefined) {
          problems.push(`${name}: not in the signed catalog`);
          continue;
        }
        await updater.downloadTarget(info, file);
      } catch (err) {
        problems.push(`${name}: ${(err as Error).message}`);
        continue;
      }
      if (name.startsWith('payloads/')) {
        payloads++;
        if (caFile !== undefined) {
          const sha256 = name.slice('payloads/'.length);
          const problem = await checkSignature(options.baseUrl, sha256, file, caFile, work);
          if (problem === undefined) signaturesChecked++;
          else problems.push(`${name}: ${problem}`);
        }
      }
      await rm(file, { force: true });
    }
    return { ok: problems.length === 0, targets, payloads, signaturesChecked, problems };
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

async function fetchCa(baseUrl: string, work: string): Promise<string> {
  const res = await fetch(`${baseUrl}/pki/ca.pem`, { signal: AbortSignal.timeout(30_000) });
  const file = path.join(work, 'ca.pem');
  await writeFile(file, await res.text());
  return file;
}

async function checkSignature(
  baseUrl: string,
  sha256: string,
  payload: string,
  caFile: string,
  work: string,
): Promise<string | undefined> {
  const res = await fetch(`${baseUrl}/content/${sha256}.p7s`, {
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) return `no CMS signature (${res.status})`;
  const sig = path.join(work, 'sig.p7s');
  await writeFile(sig, Buffer.from(await res.arrayBuffer()));
  try {
    await run('openssl', [
      'cms',
      '-verify',
      '-binary',
      '-inform',
      'DER',
      '-in',
      sig,
      '-content',
      payload,
      '-CAfile',
      caFile,
      '-purpose',
      'any',
      '-out',
      os.devNull,
    ]);
    return undefined;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    return `CMS signature does not verify (${stderr.split('\n').find((l) => l.trim() !== '') ?? 'openssl failed'})`;
  }
}
