import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Updater } from 'tuf-js';
import { fetchBounded } from './enumerate.js';

/** A detached CMS signature with its certificate chain is a few KiB; this bounds a hostile answer. */
const MAX_SIGNATURE_BYTES = 1024 * 1024;

const run = promisify(execFile);

/**
 * Resolves one target through the verifying client (tuf-js: signed, length and hashes checked on
 * download) and, for a payload, checks its detached CMS signature against the site CA with
 * openssl. Every failure is a named problem, not an exception, so one run reports them all.
 */
export class TargetChecker {
  readonly problems: string[] = [];
  readonly checked: string[] = [];
  payloads = 0;
  signaturesChecked = 0;

  constructor(
    private readonly deps: {
      updater: Updater;
      baseUrl: string;
      work: string;
      /** The site CA file; undefined: CMS signatures are not checked. */
      caFile: string | undefined;
    },
  ) {}

  /** Checks a target; true when it is signed and verified. */
  async check(name: string): Promise<boolean> {
    return (await this.download(name, false)) !== undefined;
  }

  /** Checks a (small) target and returns its verified bytes. */
  async read(name: string): Promise<Buffer | undefined> {
    const bytes = await this.download(name, true);
    return bytes === undefined || bytes === true ? undefined : bytes;
  }

  private async download(name: string, keep: boolean): Promise<Buffer | true | undefined> {
    const file = path.join(this.deps.work, 'target.bin');
    try {
      const problem = await this.fetchVerified(name, file);
      if (problem !== undefined) {
        this.problems.push(`${name}: ${problem}`);
        return undefined;
      }
      if (name.startsWith('payloads/')) {
        this.payloads++;
        if (this.deps.caFile !== undefined) {
          const problem = await this.checkSignature(name.slice('payloads/'.length), file);
          if (problem !== undefined) {
            this.problems.push(`${name}: ${problem}`);
            return undefined;
          }
          this.signaturesChecked++;
        }
      }
      this.checked.push(name);
      return keep ? await readFile(file) : true;
    } finally {
      await rm(file, { force: true });
    }
  }

  /** Downloads a target through tuf-js into `file`; a problem, or undefined when it verified. */
  private async fetchVerified(name: string, file: string): Promise<string | undefined> {
    try {
      const info = await this.deps.updater.getTargetInfo(name);
      if (info === undefined) return 'not in the signed catalog';
      await this.deps.updater.downloadTarget(info, file);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  private async checkSignature(sha256: string, payload: string): Promise<string | undefined> {
    let bytes: Buffer;
    try {
      bytes = await fetchBounded(
        `${this.deps.baseUrl}/content/${sha256}.p7s`,
        MAX_SIGNATURE_BYTES,
        'CMS signature',
      );
    } catch (err) {
      return `no CMS signature (${(err as Error).message})`;
    }
    const sig = path.join(this.deps.work, 'sig.p7s');
    await writeFile(sig, bytes);
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
        this.deps.caFile ?? '',
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
}
