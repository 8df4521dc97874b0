/**
 * Issue 11 benchmark (CAB half): wrap a 1 GiB payload into an MSZIP cabinet with upcat's
 * writer (src/windows/cab) and with `gcab -c -z` in the same run, same file, warm page cache.
 * Prints the ratio of wall times and the writer's peak RSS (measured on a child process).
 * Target: at most 1.0x gcab's time, peak RSS under 150 MB. The signing half (against
 * osslsigncode sign) belongs to the Authenticode benchmark.
 *
 * The payload is pseudo-random text (words drawn from a fixed vocabulary by a seeded PRNG):
 * compressible, as real payloads often are, but not trivially.
 */
import { open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchResult } from './types.js';
import { median, ROOT, timed, workDir } from './util.js';

const SIZE = Number(process.env['BENCH_CAB_BYTES'] ?? 1024 ** 3);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);

export async function run(): Promise<BenchResult> {
  const dir = await workDir('cab-write');
  const payload = path.join(dir, 'payload.txt');
  await ensurePayload(payload, SIZE);
  await timed('sh', ['-c', `cat "${payload}" > /dev/null`]); // warm the page cache for both alike

  const gcabTimes: number[] = [];
  const upcatTimes: number[] = [];
  const rss: number[] = [];
  let sizes = { gcab: 0, upcat: 0 };
  for (let i = 0; i < RUNS; i++) {
    const ref = path.join(dir, 'gcab.cab');
    const ours = path.join(dir, 'upcat.cab');
    await rm(ref, { force: true });
    await rm(ours, { force: true });
    // gcab stores the path it is given; run it in the payload's folder so the name is the same.
    gcabTimes.push(
      (await timed('sh', ['-c', `cd "${dir}" && gcab -c -z gcab.cab payload.txt`])).ms,
    );
    const child = await timed(
      process.execPath,
      ['--input-type=module', '-e', CHILD, payload, ours],
      {
        rss: true,
      },
    );
    upcatTimes.push(child.ms);
    rss.push((child.maxRssKb ?? 0) / 1024);
    sizes = { gcab: (await stat(ref)).size, upcat: (await stat(ours)).size };
  }
  const ref = median(gcabTimes);
  const ours = median(upcatTimes);
  const peak = Math.max(...rss);
  const ratio = ours / ref;
  return {
    name: `CAB write ${Math.round(SIZE / 1024 ** 2)} MiB, MSZIP (src/windows/cab)`,
    reference: 'gcab -c -z of the same file',
    figures: {
      'gcab -c -z ms (median)': Math.round(ref),
      'upcat writeCab ms (median)': Math.round(ours),
      'upcat peak RSS MB': Math.round(peak),
      'gcab cab bytes': sizes.gcab,
      'upcat cab bytes': sizes.upcat,
      runs: RUNS,
      'upcat ms (all)': upcatTimes.map(Math.round).join(' '),
      'gcab ms (all)': gcabTimes.map(Math.round).join(' '),
    },
    ratio: Math.round(ratio * 100) / 100,
    target: 'writeCab <= 1.0x gcab -c -z, peak RSS < 150 MB',
    met: ratio <= 1.0 && peak < 150,
  };
}

/** Seeded text: lines of words from a 2,048-word vocabulary (xorshift32, so every run is alike). */
async function ensurePayload(file: string, size: number): Promise<void> {
  const existing = await stat(file).catch(() => undefined);
  if (existing?.size === size) return;
  let seed = 0x9e3779b9;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const vocabulary = Array.from({ length: 2048 }, () =>
    Array.from({ length: 2 + (next() % 9) }, () => letters[next() % 26]).join(''),
  );
  const fh = await open(file, 'w');
  const chunk = Buffer.alloc(8 << 20);
  for (let done = 0; done < size;) {
    let at = 0;
    while (at < chunk.length - 16) {
      at += chunk.write(vocabulary[next() % 2048] as string, at, 'latin1');
      chunk[at++] = next() % 12 === 0 ? 0x0a : 0x20;
    }
    const n = Math.min(at, size - done);
    await fh.write(chunk, 0, n);
    done += n;
  }
  await fh.close();
}

/**
 * The measured side, in its own plain-node process (the built dist/, as `npm run bench` builds
 * first) so that its peak RSS is the writer's and not the TypeScript loader's.
 */
const CHILD = `
const { writeCab } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist', 'windows', 'cab', 'index.js')).href)});
const [payload, out] = process.argv.slice(1);
await writeCab([{ name: 'payload.txt', source: payload }], out, { overwrite: true });
`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await run(), null, 2));
}
