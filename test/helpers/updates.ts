import type { Site } from '../../src/app.js';
import { fileManifest, publishBytes } from './publish.js';

/** Publishes `p<n>.bin` (version `<n>.0`) for each n, in order; returns the update IDs. */
export async function publishNumbered(
  site: Site,
  numbers: readonly number[],
  over: (n: number) => Record<string, unknown> = () => ({}),
): Promise<string[]> {
  const ids: string[] = [];
  for (const n of numbers) {
    const manifest = fileManifest(`p${n}.bin`, { version: `${n}.0`, ...over(n) });
    ids.push((await publishBytes(site, `p${n}`, manifest, `p${n}.bin`)).updateId);
  }
  return ids;
}
