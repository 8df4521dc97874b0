import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Metadata, MetadataKind } from '@tufjs/models';
import { readCapped } from '../agent/site-client.js';
import { UpcatError } from '../errors.js';
import { mapBounded } from './pool.js';

/**
 * Largest metadata document read when the trusted snapshot states no length for it (bins are
 * small; the cap bounds a hostile server, checked while reading, never after).
 */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;
const TIMEOUT_MS = 30_000;
const FETCH_CONCURRENCY = 8;

const roleOf = (file: string): string => file.replace(/\.json$/, '');

/**
 * The names of every target, from metadata that is checked as a client checks it (issue 13
 * item 5). The snapshot and top-level targets are the ones tuf-js has just verified and stored
 * in `metadataDir` (TUF spec §5.5, §5.6). Each bin the trusted snapshot lists is then fetched
 * under its consistent-snapshot name (§5.6.1) with a bounded read and checked the way the
 * client checks a delegated role (§5.6.5-§5.6.7): length and hashes against the snapshot's
 * entry, its signatures against the delegating targets' keys and threshold, its version equal to
 * the snapshot's, not expired. A bin a rolled-back or mixed-up mirror serves is a problem, and
 * none of its names is listed. A bin that verified is left in `metadataDir` for tuf-js.
 */
export async function enumerateTargets(baseUrl: string, metadataDir: string): Promise<string[]> {
  const snapshot = Metadata.fromJSON(
    MetadataKind.Snapshot,
    await trustedJson(metadataDir, 'snapshot'),
  );
  const targets = Metadata.fromJSON(
    MetadataKind.Targets,
    await trustedJson(metadataDir, 'targets'),
  );
  const names = Object.keys(targets.signed.targets);
  const bins = Object.entries(snapshot.signed.meta).filter(([file]) => file !== 'targets.json');
  // Fetched several at a time, checked in the snapshot's order (the first bad one is reported).
  const fetched = await mapBounded(bins, FETCH_CONCURRENCY, ([file, meta]) =>
    fetchBounded(
      `${baseUrl}/tuf/${meta.version}.${roleOf(file)}.json`,
      meta.length ?? MAX_METADATA_BYTES,
      roleOf(file),
    ),
  );
  for (const [i, [file, meta]] of bins.entries()) {
    const role = roleOf(file);
    const outcome = fetched[i] as PromiseSettledResult<Buffer>;
    if (outcome.status === 'rejected') throw outcome.reason;
    const bytes = outcome.value;
    try {
      meta.verify(bytes);
      const bin = Metadata.fromJSON(
        MetadataKind.Targets,
        JSON.parse(bytes.toString('utf8')) as MetadataJson,
      );
      targets.verifyDelegate(role, bin);
      if (bin.signed.version !== meta.version)
        throw new Error(
          `version ${bin.signed.version}, but the trusted snapshot says ${meta.version}`,
        );
      if (bin.signed.isExpired()) throw new Error(`expired on ${bin.signed.expires}`);
      names.push(...Object.keys(bin.signed.targets));
      // Where tuf-js looks first when it needs this bin to resolve a target: it verifies the
      // local copy against the trusted snapshot as it would a download, without fetching it again.
      await writeFile(path.join(metadataDir, `${role}.json`), bytes);
    } catch (err) {
      throw new UpcatError('integrity', `${role}: ${(err as Error).message}`, { cause: err });
    }
  }
  return [...new Set(names)].sort();
}

/** Metadata the verifying client (tuf-js) has stored after a successful refresh. */
async function trustedJson(dir: string, role: 'snapshot' | 'targets'): Promise<MetadataJson> {
  return JSON.parse(await readFile(path.join(dir, `${role}.json`), 'utf8')) as MetadataJson;
}

type MetadataJson = Parameters<typeof Metadata.fromJSON>[1];

/** GET with a time limit and a size cap enforced while reading. */
export async function fetchBounded(url: string, maxBytes: number, what: string): Promise<Buffer> {
  const signal = AbortSignal.timeout(TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(url, { signal });
  } catch (err) {
    throw new UpcatError('integrity', `${url}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new UpcatError('integrity', `${url} answered ${res.status}`);
  }
  return readCapped(res, maxBytes, what);
}
