import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  Metadata,
  MetadataKind,
  type MetaFile,
  type Snapshot,
  type Targets,
  type Timestamp,
} from '@tufjs/models';
import { Updater } from 'tuf-js';
import { errnoCode, UpcatError } from '../errors.js';
import { fetchBounded, MAX_METADATA_BYTES } from '../verify/enumerate.js';
import { mapBounded } from '../verify/pool.js';
import { olderRoots, parseRoot } from './root-chain.js';

type Json = Parameters<typeof Metadata.fromJSON>[1];

/** What the mirror serves now: versions, and every signed target's length by SHA-256. */
export interface ServedState {
  rootVersion: number;
  timestampVersion: number;
  /** SHA-256 of the timestamp.json served: a refresh that fetched these bytes has nothing to do. */
  timestampSha256: string;
  snapshotVersion: number;
  /** Expiry of the timestamp served (agents refuse it after that: docs/OPERATIONS.md). */
  expires: string;
  /**
   * Each file the snapshot lists (`targets.json`, `bins-0a.json`) to the version served, so
   * unchanged bins are not fetched again and older versions can be pruned.
   */
  bins: Record<string, number>;
  /** SHA-256 to the signed length and target path, for every target of the catalog served. */
  targets: Record<string, SignedTarget>;
}

export interface SignedTarget {
  length: number;
  /** The TUF target path (`payloads/<sha256>`, `updates/<id>.xml`). */
  path: string;
}

const FETCH_CONCURRENCY = 8;
const TIMEOUT_MS = 30_000;

/**
 * The mirror's copy of the upstream's TUF repository (issue 15 item 5). The upstream's metadata
 * is read through tuf-js from the trusted root, exactly as an agent reads it (TUF spec §5.3-§5.6:
 * root chain, timestamp, snapshot, top-level targets, with signatures, thresholds, versions,
 * rollback and expiry), and each bin as `upcat verify` reads it (verify/enumerate.ts's checks).
 * Only when all of it verifies are the upstream's own bytes copied to `served/`, versioned files
 * first and `timestamp.json` last (renamed into place), so what agents see switches at once and
 * a forged, rolled-back or half-fetched refresh leaves the last good copy served.
 */
export class TufMirror {
  private current: ServedState | undefined;
  private previousTargets: Record<string, SignedTarget> = {};

  constructor(
    private readonly home: string,
    private readonly upstream: string,
  ) {}

  get trustedDir(): string {
    return path.join(this.home, 'tuf', 'trusted');
  }

  get servedDir(): string {
    return path.join(this.home, 'tuf', 'served');
  }

  private get stateFile(): string {
    return path.join(this.home, 'tuf', 'served-state.json');
  }

  get state(): ServedState | undefined {
    return this.current;
  }

  /** A target of the served catalog by its SHA-256. */
  target(sha256: string): SignedTarget | undefined {
    return this.current?.targets[sha256] ?? this.previousTargets[sha256];
  }

  /**
   * Sets the trust anchor: the pinned root when given (trust restarts from it when what is kept
   * descends from another), else what is kept, else the upstream's 1.root.json (trust on first
   * use, as the agent does). Returns where the trust starts.
   */
  async open(pinnedRoot: Buffer | undefined): Promise<'pinned' | 'kept' | 'first use'> {
    await mkdir(this.trustedDir, { recursive: true, mode: 0o700 });
    await mkdir(this.servedDir, { recursive: true });
    this.current = await readState(this.stateFile);
    // A crash after the state was written and before timestamp.json was switched: the next
    // refresh finishes the switch.
    const served = await readFile(path.join(this.servedDir, 'timestamp.json')).catch(
      () => undefined,
    );
    if (
      this.current !== undefined &&
      (served === undefined || sha256(served) !== this.current.timestampSha256)
    )
      this.current = { ...this.current, timestampSha256: '' };
    const anchorFile = path.join(this.home, 'tuf', 'anchor.sha256');
    const kept = await readFile(anchorFile, 'utf8').catch(() => undefined);
    const trusted = path.join(this.trustedDir, 'root.json');
    if (pinnedRoot !== undefined) {
      const sha = sha256(pinnedRoot);
      if (kept?.trim() === sha && (await exists(trusted))) return 'kept';
      parseRoot(pinnedRoot); // a clear error for a file that is not root metadata
      await rm(this.trustedDir, { recursive: true, force: true });
      await mkdir(this.trustedDir, { recursive: true, mode: 0o700 });
      await writeFile(trusted, pinnedRoot, { mode: 0o600 });
      await writeFile(anchorFile, `${sha}\n`);
      return 'pinned';
    }
    if (await exists(trusted)) return 'kept';
    const first = await fetchBounded(`${this.upstream}/tuf/1.root.json`, 1024 * 1024, 'root 1');
    parseRoot(first);
    await writeFile(trusted, first, { mode: 0o600 });
    await writeFile(anchorFile, `${sha256(first)}\n`);
    return 'first use';
  }

  /**
   * One refresh: 'unchanged' when the upstream's timestamp is the one served. Throws (leaving
   * what is served as it was) when the upstream cannot be read or its metadata does not verify.
   */
  async refresh(): Promise<'updated' | 'unchanged'> {
    const updater = new Updater({
      metadataDir: this.trustedDir,
      metadataBaseUrl: `${this.upstream}/tuf`,
      targetBaseUrl: `${this.upstream}/tuf/targets`,
      config: { fetchRetry: 0, fetchTimeout: TIMEOUT_MS },
    });
    try {
      await updater.refresh();
    } catch (err) {
      throw new UpcatError(
        'integrity',
        `the upstream's TUF metadata was not accepted: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const bytes = {
      root: await this.trustedBytes('root'),
      timestamp: await this.trustedBytes('timestamp'),
      snapshot: await this.trustedBytes('snapshot'),
      targets: await this.trustedBytes('targets'),
    };
    const root = parseRoot(bytes.root);
    const timestamp = Metadata.fromJSON(MetadataKind.Timestamp, json(bytes.timestamp));
    if (
      this.current?.timestampSha256 === sha256(bytes.timestamp) &&
      this.current.rootVersion === root.signed.version
    )
      return 'unchanged';
    const snapshot = Metadata.fromJSON(MetadataKind.Snapshot, json(bytes.snapshot));
    const top = Metadata.fromJSON(MetadataKind.Targets, json(bytes.targets));
    const bins = await this.verifiedBins(snapshot, top);
    const before = this.current;
    await this.publish(bytes, root.signed.version, timestamp, snapshot, top, bins);
    await this.prune(before);
    return 'updated';
  }

  /**
   * Every bin the trusted snapshot lists (TUF spec §5.6 for delegated targets): a bin whose
   * version is already served is read from `served/`, the others fetched from the upstream with
   * a bounded read; each checked against the snapshot's entry, the delegating keys, its version
   * and expiry.
   */
  private async verifiedBins(
    snapshot: Metadata<Snapshot>,
    top: Metadata<Targets>,
  ): Promise<Map<string, { bytes: Buffer; bin: Metadata<Targets>; meta: MetaFile }>> {
    const entries = Object.entries(snapshot.signed.meta).filter(([f]) => f !== 'targets.json');
    const got = await mapBounded(entries, FETCH_CONCURRENCY, async ([file, meta]) => {
      const name = `${meta.version}.${file}`;
      if (this.current?.bins[file] === meta.version)
        return readFile(path.join(this.servedDir, name));
      return fetchBounded(`${this.upstream}/tuf/${name}`, meta.length ?? MAX_METADATA_BYTES, file);
    });
    const out = new Map<string, { bytes: Buffer; bin: Metadata<Targets>; meta: MetaFile }>();
    for (const [i, [file, meta]] of entries.entries()) {
      const outcome = got[i] as PromiseSettledResult<Buffer>;
      try {
        if (outcome.status === 'rejected') throw outcome.reason;
        const bytes = outcome.value;
        meta.verify(bytes);
        const bin = Metadata.fromJSON(MetadataKind.Targets, json(bytes));
        top.verifyDelegate(file.replace(/\.json$/, ''), bin);
        if (bin.signed.version !== meta.version)
          throw new Error(`version ${bin.signed.version}, the snapshot says ${meta.version}`);
        if (bin.signed.isExpired()) throw new Error(`expired on ${bin.signed.expires}`);
        out.set(file, { bytes, bin, meta });
      } catch (err) {
        throw new UpcatError('integrity', `the upstream's ${file}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    return out;
  }

  /** Copies the verified bytes to `served/` (aptly's switch: new names first, the pointer last). */
  private async publish(
    bytes: Record<'root' | 'timestamp' | 'snapshot' | 'targets', Buffer>,
    rootVersion: number,
    timestamp: Metadata<Timestamp>,
    snapshot: Metadata<Snapshot>,
    top: Metadata<Targets>,
    bins: Map<string, { bytes: Buffer; bin: Metadata<Targets>; meta: MetaFile }>,
  ): Promise<ServedState> {
    const snapshotVersion = timestamp.signed.snapshotMeta.version;
    const targetsVersion = snapshot.signed.meta['targets.json']?.version ?? top.signed.version;
    await this.writeServed(`${rootVersion}.root.json`, bytes.root);
    await this.backfillRoots(bytes.root);
    await this.writeServed(`${snapshotVersion}.snapshot.json`, bytes.snapshot);
    await this.writeServed(`${targetsVersion}.targets.json`, bytes.targets);
    const targets: Record<string, SignedTarget> = {};
    const binVersions: Record<string, number> = { 'targets.json': targetsVersion };
    for (const role of [top, ...[...bins.values()].map((b) => b.bin)])
      for (const t of Object.values(role.signed.targets)) {
        const sha = t.hashes['sha256'];
        if (sha !== undefined) targets[sha] = { length: t.length, path: t.path };
      }
    for (const [file, { bytes: b, meta }] of bins) {
      binVersions[file] = meta.version;
      if (this.current?.bins[file] !== meta.version)
        await this.writeServed(`${meta.version}.${file}`, b);
    }
    await this.writeServed('root.json', bytes.root);
    const state: ServedState = {
      rootVersion,
      timestampVersion: timestamp.signed.version,
      timestampSha256: sha256(bytes.timestamp),
      snapshotVersion,
      expires: timestamp.signed.expires,
      bins: binVersions,
      targets,
    };
    // The state first: after a crash between the two, the next start serves the older
    // timestamp with a state that names its targets too (targets are only ever added to a bin's
    // later versions or dropped by a later snapshot, which the next refresh sees again).
    await atomicWrite(this.stateFile, Buffer.from(JSON.stringify(state)));
    // Targets of the catalog being replaced stay servable to agents that hold its timestamp.
    this.previousTargets = this.current?.targets ?? {};
    this.current = state;
    await this.writeServed('timestamp.json', bytes.timestamp);
    return state;
  }

  /**
   * Drops versioned snapshot, targets and bin files older than the ones served before this
   * refresh: an agent that read the previous timestamp can still fetch what it names. Roots stay
   * (agents walk the chain from 1.root.json).
   */
  private async prune(before: ServedState | undefined): Promise<void> {
    const now = this.current;
    if (now === undefined) return;
    const floor = (role: string): number => {
      const versions = [now, before]
        .map((st) => (role === 'snapshot' ? st?.snapshotVersion : st?.bins[`${role}.json`]))
        .filter((v): v is number => v !== undefined);
      return versions.length === 0 ? 0 : Math.min(...versions);
    };
    for (const name of await readdir(this.servedDir)) {
      const m = /^([1-9][0-9]*)\.(snapshot|targets|bins-[0-9a-f]+)\.json$/.exec(name);
      if (m === null) continue;
      if (Number(m[1]) < floor(m[2] as string))
        await rm(path.join(this.servedDir, name), { force: true });
    }
  }

  /** Root versions below the trusted one, for agents that start from 1.root.json. */
  private async backfillRoots(trusted: Buffer): Promise<void> {
    const have = new Map<number, Buffer>();
    for (const name of await readdir(this.servedDir)) {
      const m = /^([1-9][0-9]*)\.root\.json$/.exec(name);
      if (m !== null) have.set(Number(m[1]), await readFile(path.join(this.servedDir, name)));
    }
    const chain = await olderRoots(this.upstream, trusted, have);
    // A chain that does not verify is not served (agents with a pinned root do not need it);
    // refreshing goes on, and the reason is in the mirror's status.
    if (typeof chain === 'string') throw new UpcatError('integrity', chain);
    for (const [v, b] of chain) if (!have.has(v)) await this.writeServed(`${v}.root.json`, b);
  }

  private async trustedBytes(role: string): Promise<Buffer> {
    return readFile(path.join(this.trustedDir, `${role}.json`));
  }

  private async writeServed(name: string, bytes: Buffer): Promise<void> {
    await atomicWrite(path.join(this.servedDir, name), bytes);
  }
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function json(bytes: Buffer): Json {
  return JSON.parse(bytes.toString('utf8')) as Json;
}

async function atomicWrite(file: string, bytes: Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, bytes, { mode: 0o644 });
  await rename(tmp, file);
}

async function readState(file: string): Promise<ServedState | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as ServedState;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new UpcatError('integrity', `${file}: ${(err as Error).message}`, { cause: err });
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await readFile(file);
    return true;
  } catch {
    return false;
  }
}
