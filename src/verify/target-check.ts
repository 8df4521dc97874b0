import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { TargetFile } from '@tufjs/models';
import type { Updater } from 'tuf-js';
import { verifyDetachedCms } from '../agent/cms-verify.js';
import { UpcatError } from '../errors.js';
import { fetchBounded } from './enumerate.js';
import { Limiter, mapBounded } from './pool.js';

/** A detached CMS signature with its certificate chain is a few KiB; this bounds a hostile answer. */
const MAX_SIGNATURE_BYTES = 1024 * 1024;
/** Targets up to this size are checked in memory; larger ones go through a file. */
const IN_MEMORY_BYTES = 8 * 1024 * 1024;
const TIMEOUT_MS = 30_000;
/**
 * Targets over SMALL_BYTES checked at once, whatever the concurrency of small ones: they bound
 * the memory (up to IN_MEMORY_BYTES each) and the temporary disk (a streamed one may be
 * gigabytes).
 */
const SMALL_BYTES = 1024 * 1024;
const LARGE_AT_ONCE = 4;

/** A verified download: its bytes, or the file holding them (large targets). */
type Verified = { bytes: Buffer } | { file: string };

/**
 * Resolves one target through the verifying client (tuf-js walks the signed delegations to its
 * TargetFile) and downloads it by its hash-prefixed name, checking length (while reading) and
 * hashes against that signed entry, as tuf-js's `downloadTarget` does (TUF spec §5.7.3); for a
 * payload, its detached CMS signature is then checked against the site CA. Every
 * failure is a named problem, not an exception, so one run reports them all. Several targets may
 * be checked at once (issue 16: tuf-js's download writes a temporary directory and two files per
 * target, which made `upcat verify` run at ~50 targets/s).
 */
export class TargetChecker {
  readonly problems: string[] = [];
  readonly checked: string[] = [];
  payloads = 0;
  signaturesChecked = 0;
  private files = 0;
  private readonly large = new Limiter(LARGE_AT_ONCE);

  constructor(
    private readonly deps: {
      updater: Updater;
      /** Signed entries already resolved from verified metadata (enumerate.ts); others ask tuf-js. */
      entries?: ReadonlyMap<string, TargetFile>;
      baseUrl: string;
      work: string;
      /** The site CA (PEM); undefined: CMS signatures are not checked. */
      caPem: string | undefined;
    },
  ) {}

  /** Checks a target; true when it is signed and verified. */
  async check(name: string): Promise<boolean> {
    const problem = await this.checkOne(name, () => undefined);
    return this.record(name, problem);
  }

  /** Checks a (small) target and returns its verified bytes. */
  async read(name: string): Promise<Buffer | undefined> {
    let bytes: Buffer | undefined;
    const problem = await this.checkOne(name, async (v) => {
      bytes = 'bytes' in v ? v.bytes : await readFile(v.file);
    });
    return this.record(name, problem) ? bytes : undefined;
  }

  /**
   * Checks every name, `concurrency` at a time; `checked` and `problems` come out in the order of
   * `names`, as a one-at-a-time run would give them.
   */
  async checkAll(names: readonly string[], concurrency: number): Promise<void> {
    const outcomes = await mapBounded(names, concurrency, (name) =>
      this.checkOne(name, () => undefined),
    );
    names.forEach((name, i) => {
      const outcome = outcomes[i] as PromiseSettledResult<string | undefined>;
      this.record(name, outcome.status === 'fulfilled' ? outcome.value : String(outcome.reason));
    });
  }

  private record(name: string, problem: string | undefined): boolean {
    if (problem !== undefined) this.problems.push(`${name}: ${problem}`);
    else this.checked.push(name);
    return problem === undefined;
  }

  /** A problem, or undefined when the target is signed and verified (`use` saw its bytes). */
  private async checkOne(
    name: string,
    use: (verified: Verified) => unknown,
  ): Promise<string | undefined> {
    const file = path.join(this.deps.work, `t${this.files++}.bin`);
    // Only a large target goes through a file (removing an absent one costs an lstat per target).
    let onDisk = false;
    try {
      let info: TargetFile | undefined;
      let verified: Verified;
      let signature: Promise<Buffer | string> | undefined;
      try {
        info = this.deps.entries?.get(name) ?? (await this.deps.updater.getTargetInfo(name));
        if (info === undefined) return 'not in the signed catalog';
        onDisk = info.length > IN_MEMORY_BYTES;
        // Asked for together with the payload (one round trip, not two); read once it verified.
        if (name.startsWith('payloads/') && this.deps.caPem !== undefined)
          signature = this.fetchSignature(info);
        verified = await this.download(info, file);
      } catch (err) {
        return (err as Error).message;
      }
      if (name.startsWith('payloads/')) {
        this.payloads++;
        if (signature !== undefined) {
          const problem = this.checkSignature(info, await signature);
          if (problem !== undefined) return problem;
          this.signaturesChecked++;
        }
      }
      await use(verified);
      return undefined;
    } finally {
      if (onDisk) await rm(file, { force: true });
    }
  }

  /** GETs the target by its consistent-snapshot name and verifies it against its signed entry. */
  private async download(info: TargetFile, file: string): Promise<Verified> {
    const url = this.targetUrl(info);
    if (info.length <= SMALL_BYTES) return this.downloadToMemory(info, url);
    return this.large.run(() =>
      info.length <= IN_MEMORY_BYTES
        ? this.downloadToMemory(info, url)
        : this.downloadToFile(info, url, file),
    );
  }

  private async downloadToMemory(info: TargetFile, url: string): Promise<Verified> {
    const bytes = await fetchBounded(url, info.length, info.path);
    verifyBytes(info, bytes);
    return { bytes };
  }

  private async downloadToFile(info: TargetFile, url: string, file: string): Promise<Verified> {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (!res.ok || res.body === null) {
      await res.body?.cancel().catch(() => undefined);
      throw new UpcatError('integrity', `${url} answered ${res.status}`);
    }
    let seen = 0;
    const cap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        if (seen > info.length)
          done(new UpcatError('too_large', `${info.path}: over its signed length ${info.length}`));
        else done(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(res.body), cap, createWriteStream(file));
    await info.verify(createReadStream(file));
    return { file };
  }

  /** As tuf-js names a target with consistent snapshots: `<dir>/<first hash>.<base name>`. */
  private targetUrl(info: TargetFile): string {
    const hash = Object.values(info.hashes)[0] ?? '';
    const { dir, base } = path.posix.parse(info.path);
    return `${this.deps.baseUrl}/tuf/targets/${dir === '' ? '' : `${dir}/`}${hash}.${base}`;
  }

  /**
   * The payload's detached CMS signature, checked in-process as the endpoint agent checks it
   * (agent/cms-verify.ts: the signer's path to the site CA, its code-signing usage and validity,
   * the signed message digest against the payload's SHA-256, the signature) rather than by an
   * openssl process per payload, which cost more than the download it checks.
   */
  private checkSignature(info: TargetFile, fetched: Buffer | string): string | undefined {
    const sha256 = info.hashes['sha256'];
    if (sha256 === undefined) return 'no SHA-256 in its signed entry to check the CMS signature by';
    if (typeof fetched === 'string') return fetched;
    try {
      verifyDetachedCms(fetched, sha256, this.deps.caPem ?? '');
      return undefined;
    } catch (err) {
      return `CMS signature does not verify (${(err as Error).message})`;
    }
  }

  /** The payload's `.p7s`, or the problem of getting it (never a rejection: it may go unread). */
  private async fetchSignature(info: TargetFile): Promise<Buffer | string> {
    const sha256 = info.hashes['sha256'];
    if (sha256 === undefined) return 'no SHA-256 in its signed entry to check the CMS signature by';
    try {
      return await fetchBounded(
        `${this.deps.baseUrl}/content/${sha256}.p7s`,
        MAX_SIGNATURE_BYTES,
        'CMS signature',
      );
    } catch (err) {
      return `no CMS signature (${(err as Error).message})`;
    }
  }
}

/**
 * `TargetFile.verify` for bytes already in memory, with its checks and messages: the length, then
 * every hash the signed entry lists (tuf-js takes a stream, and its async iteration over one
 * buffer cost more than the hashing).
 */
function verifyBytes(info: TargetFile, bytes: Buffer): void {
  if (bytes.length !== info.length)
    throw new Error(`Expected length ${info.length} but got ${bytes.length}`);
  for (const [algorithm, expected] of Object.entries(info.hashes)) {
    let hash;
    try {
      hash = createHash(algorithm);
    } catch {
      throw new Error(`Hash algorithm ${algorithm} not supported`);
    }
    const actual = hash.update(bytes).digest('hex');
    if (actual !== expected) throw new Error(`Expected hash ${expected} but got ${actual}`);
  }
}
