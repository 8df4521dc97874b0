import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Metadata, MetaFile, TargetFile, Targets } from '@tufjs/models';
import { UpcatError } from '../errors.js';
import { pipelinedGet } from './http-pipeline.js';
import { parseDelegatedKeysOnce } from './delegation-keys.js';
import { mapBounded } from './pool.js';
import { tuf, type Tuf } from './tuf.js';

/**
 * Largest metadata document read when the trusted snapshot states no length for it (bins are
 * small; the cap bounds a hostile server, checked while reading, never after).
 */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;
const TIMEOUT_MS = 30_000;
/** Bins asked for at once: several per write on the pipelined connections (http-pipeline.ts). */
const FETCH_CONCURRENCY = 32;

const roleOf = (file: string): string => file.replace(/\.json$/, '');

/**
 * The names of every target, from metadata that is checked as a client checks it (issue 13
 * item 5). The snapshot and top-level targets are the ones tuf-js has just verified and stored
 * in `metadataDir` (TUF spec §5.5, §5.6). Each bin the trusted snapshot lists is then fetched
 * under its consistent-snapshot name (§5.6.1) with a bounded read and checked the way the
 * client checks a delegated role (§5.6.5-§5.6.7): length and hashes against the snapshot's
 * entry, its signatures against the delegating targets' keys and threshold, its version equal to
 * the snapshot's, not expired. A bin a rolled-back or mixed-up mirror serves is a problem, and
 * none of its names is listed. The bins that verified are left in `metadataDir` for tuf-js when
 * it has a target to resolve.
 */
export async function enumerateTargets(
  baseUrl: string,
  metadataDir: string,
): Promise<SignedTargets> {
  const snapshotMeta = metaOf(await trustedJson(metadataDir, 'snapshot'));
  const targets = tuf.Metadata.fromJSON(
    tuf.MetadataKind.Targets,
    await trustedJson(metadataDir, 'targets'),
  );
  parseDelegatedKeysOnce(targets.signed);
  const names = Object.keys(targets.signed.targets);
  const bins = [...snapshotMeta].filter(([file]) => file !== 'targets.json');
  const verified = new Map<string, Targets>();
  const binBytes = new Map<string, Buffer>();
  // Each bin checked as soon as it arrives, while the server sends the next ones (checking them
  // only once all had arrived left each process idle while the other worked, issue 16); the
  // outcomes are read in the snapshot's order, so the first bad one is the one reported.
  const checked = await mapBounded(bins, FETCH_CONCURRENCY, async ([file, meta]) => {
    const role = roleOf(file);
    const bytes = await fetchBounded(
      `${baseUrl}/tuf/${meta.version}.${role}.json`,
      meta.length ?? MAX_METADATA_BYTES,
      role,
    );
    return { role, bytes, bin: checkedBin(targets, role, meta, bytes) };
  });
  for (const outcome of checked) {
    if (outcome.status === 'rejected') throw outcome.reason;
    const { role, bytes, bin } = outcome.value;
    names.push(...Object.keys(bin.targets));
    verified.set(role, bin);
    binBytes.set(role, bytes);
  }
  const sorted = [...new Set(names)].sort();
  const entries = new Map<string, TargetFile>();
  for (const name of sorted) {
    const entry = walk(name, targets.signed, verified);
    if (entry !== undefined) entries.set(name, entry);
  }
  // Where tuf-js looks first when it needs a bin to resolve a target this walk left to it: it
  // verifies the local copy against the trusted snapshot as it would a download, without fetching
  // it again. Written only then (a file per bin was a twentieth of the client's CPU, issue 16).
  if (entries.size < sorted.length)
    for (const [role, bytes] of binBytes)
      await writeFile(path.join(metadataDir, `${role}.json`), bytes);
  return { names: sorted, entries };
}

/**
 * A bin checked as the client checks a delegated role (§5.6.5-§5.6.7): length and hashes against
 * the snapshot's entry, signatures against the delegating targets' keys and threshold, version
 * equal to the snapshot's, not expired. Any failure is an `integrity` error naming the bin.
 */
function checkedBin(
  targets: Metadata<Targets>,
  role: string,
  meta: MetaFile,
  bytes: Buffer,
): Targets {
  try {
    meta.verify(bytes);
    const bin = tuf.Metadata.fromJSON(
      tuf.MetadataKind.Targets,
      JSON.parse(bytes.toString('utf8')) as MetadataJson,
    );
    targets.verifyDelegate(role, bin);
    if (bin.signed.version !== meta.version)
      throw new Error(
        `version ${bin.signed.version}, but the trusted snapshot says ${meta.version}`,
      );
    if (bin.signed.isExpired()) throw new Error(`expired on ${bin.signed.expires}`);
    return bin.signed;
  } catch (err) {
    throw new UpcatError('integrity', `${role}: ${(err as Error).message}`, { cause: err });
  }
}

/** What the verified metadata says of the catalog's targets. */
export interface SignedTargets {
  /** Every target name the top-level targets and the bins list, sorted. */
  names: string[];
  /**
   * A target's signed entry (length, hashes), where the verified roles alone decide it. A name
   * missing here is resolved by the verifying client (tuf-js), which fetches what it needs.
   */
  entries: Map<string, TargetFile>;
}

/**
 * The client's preorder walk of the delegations for one target (TUF spec §5.6.7, as tuf-js's
 * `getTargetInfo` does it) over roles verified above, so that each target is not looked up
 * through tuf-js, which verified every bin's signatures a second time (issue 16): the top-level
 * targets first, then the roles delegated that path, in order, up to a terminating one. The
 * entry of the first role that lists the name; undefined when the answer needs a role not
 * verified here or a delegation below a bin (tuf-js decides those), or when no role lists it.
 */
function walk(
  name: string,
  top: Targets,
  bins: ReadonlyMap<string, Targets>,
): TargetFile | undefined {
  const own = top.targets[name];
  if (own !== undefined) return own;
  for (const { role, terminating } of top.delegations?.rolesForTarget(name) ?? []) {
    const bin = bins.get(role);
    if (bin === undefined) return undefined;
    const entry = bin.targets[name];
    if (entry !== undefined) return entry;
    if (bin.delegations !== undefined || terminating) return undefined;
  }
  return undefined;
}

/**
 * The `meta` of the snapshot tuf-js has just verified and stored, each entry read as tuf-js reads
 * it (`MetaFile.fromJSON`: version, length and hashes type-checked). Not `Metadata.fromJSON`
 * again: its `meta` is built by spreading the object once per entry, quadratic in the number of
 * roles (257 entries: a thirtieth of `upcat verify --server`'s CPU with the garbage it leaves,
 * issue 16), and the snapshot's signatures and type were checked by tuf-js before it stored it.
 */
function metaOf(json: MetadataJson): Map<string, MetaFile> {
  const signed: unknown = json['signed'];
  const meta = isRecord(signed) ? signed['meta'] : undefined;
  if (!isRecord(meta)) throw new TypeError('the trusted snapshot has no meta');
  const entries = new Map<string, MetaFile>();
  for (const [file, entry] of Object.entries(meta)) {
    if (!isRecord(entry))
      throw new TypeError(`the trusted snapshot's entry for ${file} is malformed`);
    entries.set(file, tuf.MetaFile.fromJSON(entry as MetadataJson));
  }
  return entries;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Metadata the verifying client (tuf-js) has stored after a successful refresh. */
async function trustedJson(dir: string, role: 'snapshot' | 'targets'): Promise<MetadataJson> {
  return JSON.parse(await readFile(path.join(dir, `${role}.json`), 'utf8')) as MetadataJson;
}

type MetadataJson = Parameters<Tuf['Metadata']['fromJSON']>[1];

/** GET with a time limit and a size cap enforced while reading (pipelined, kept-alive). */
export function fetchBounded(url: string, maxBytes: number, what: string): Promise<Buffer> {
  return pipelinedGet(url, maxBytes, what, TIMEOUT_MS);
}
