import { UpcatError } from '../errors.js';

/** Largest metadata document the enumeration reads (bins are small; this bounds a hostile server). */
const MAX_METADATA_BYTES = 16 * 1024 * 1024;

/**
 * The names of every target in a served repository, read from timestamp -> snapshot -> bins.
 * This read is not trusted: it only says which names to ask about. Each name is then resolved
 * and downloaded through the verifying client, which checks every signature on the way.
 */
export async function enumerateTargets(baseUrl: string): Promise<string[]> {
  const timestamp = await fetchJson(`${baseUrl}/tuf/timestamp.json`);
  const snapshotVersion = numberAt(timestamp, ['signed', 'meta', 'snapshot.json', 'version']);
  const snapshot = await fetchJson(`${baseUrl}/tuf/${snapshotVersion}.snapshot.json`);
  const meta = objectAt(snapshot, ['signed', 'meta']);
  const names: string[] = [];
  for (const [file, entry] of Object.entries(meta)) {
    if (file === 'targets.json') continue;
    const role = file.replace(/\.json$/, '');
    const version = numberAt(entry, ['version']);
    const bin = await fetchJson(`${baseUrl}/tuf/${version}.${role}.json`);
    names.push(...Object.keys(objectAt(bin, ['signed', 'targets'])));
  }
  return names.sort();
}

async function fetchJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new UpcatError('integrity', `${url} answered ${res.status}`);
  const length = Number(res.headers.get('content-length') ?? '0');
  if (length > MAX_METADATA_BYTES)
    throw new UpcatError('integrity', `${url} is larger than ${MAX_METADATA_BYTES} bytes`);
  const text = await res.text();
  if (text.length > MAX_METADATA_BYTES)
    throw new UpcatError('integrity', `${url} is larger than ${MAX_METADATA_BYTES} bytes`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UpcatError('integrity', `${url} is not JSON`);
  }
}

function at(value: unknown, path: readonly string[]): unknown {
  let cur = value;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function numberAt(value: unknown, path: readonly string[]): number {
  const n = at(value, path);
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw new UpcatError('integrity', `metadata has no ${path.join('.')}`);
  }
  return n;
}

function objectAt(value: unknown, path: readonly string[]): Record<string, unknown> {
  const o = at(value, path);
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new UpcatError('integrity', `metadata has no ${path.join('.')}`);
  }
  return o as Record<string, unknown>;
}
