/**
 * Issue 2 benchmark: publish a 1 GiB file with the CLI and compare, in the same run, with
 * `sha256sum` of the same file: the ratio of wall times and the publish's peak RSS.
 * Target: at most 1.2x sha256sum's time, peak RSS under 150 MB.
 */
import { randomBytes } from 'node:crypto';
import { open, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchResult } from './types.js';
import { CLI, median, timed, workDir } from './util.js';

const SIZE = Number(process.env['BENCH_PUBLISH_BYTES'] ?? 1024 ** 3);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);

export async function run(): Promise<BenchResult> {
  const dir = await workDir('publish');
  const file = path.join(dir, 'payload.bin');
  await ensureFile(file, SIZE);
  // Warm the page cache for both contenders alike.
  await timed('sha256sum', [file]);

  const shaTimes: number[] = [];
  const pubTimes: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    shaTimes.push((await timed('sha256sum', [file])).ms);
    const home = path.join(dir, `site-${i}`);
    await rm(home, { recursive: true, force: true });
    const env = { ...process.env, UPCAT_HOME: home, DATABASE_URL: '' };
    await timed(process.execPath, [CLI, 'init'], { env });
    const manifest = path.join(dir, 'manifest.json');
    await writeFile(
      manifest,
      JSON.stringify({
        title: 'Bench payload',
        product: 'Bench',
        classification: 'Updates',
        version: '1.0',
        handler: { type: 'commandLine', program: 'payload.bin' },
      }),
    );
    const pub = await timed(
      process.execPath,
      [CLI, 'publish', file, '--manifest', manifest, '--json'],
      { env, rss: true },
    );
    pubTimes.push(pub.ms);
    rss.push((pub.maxRssKb ?? 0) / 1024);
    await rm(home, { recursive: true, force: true });
  }
  const sha = median(shaTimes);
  const pub = median(pubTimes);
  const peak = Math.max(...rss);
  const ratio = pub / sha;
  return {
    name: `publish ${formatSize(SIZE)} (CLI, embedded SQLite)`,
    reference: 'sha256sum of the same file',
    figures: {
      'sha256sum ms (median)': Math.round(sha),
      'upcat publish ms (median)': Math.round(pub),
      'publish peak RSS MB': Math.round(peak),
      runs: RUNS,
      'publish ms (all)': pubTimes.map(Math.round).join(' '),
      'sha256sum ms (all)': shaTimes.map(Math.round).join(' '),
    },
    ratio: Math.round(ratio * 100) / 100,
    target: 'publish <= 1.2x sha256sum, peak RSS < 150 MB',
    met: ratio <= 1.2 && peak < 150,
  };
}

async function ensureFile(file: string, size: number): Promise<void> {
  const existing = await stat(file).catch(() => undefined);
  if (existing?.size === size) return;
  const fh = await open(file, 'w');
  const chunk = 8 * 1024 * 1024;
  for (let done = 0; done < size; done += chunk)
    await fh.write(randomBytes(Math.min(chunk, size - done)));
  await fh.close();
}

function formatSize(n: number): string {
  return n >= 1024 ** 3 ? `${n / 1024 ** 3} GiB` : `${Math.round(n / 1024 ** 2)} MiB`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await run(), null, 2));
}
