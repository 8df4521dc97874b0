import type { RemoteClient } from './remote.js';

/** The most pages a CLI listing follows (at 1000 rows each): a bound, not a real limit. */
const MAX_PAGES = 10_000;

/**
 * Every row of a paged admin list over HTTP (`{<key>: [...], next}`, server/paging.ts): the
 * CLI prints whole lists, as it does locally, by following `next` until it is null.
 */
export async function allPages<T>(
  remote: RemoteClient,
  path: string,
  key: string,
  query: Record<string, string | number | undefined> = {},
): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await remote.getJson<Record<string, unknown>>(path, {
      ...query,
      limit: 1000,
      cursor,
    });
    out.push(...((page[key] as T[] | undefined) ?? []));
    const next = page['next'];
    if (typeof next !== 'string') return out;
    cursor = next;
  }
  return out;
}
