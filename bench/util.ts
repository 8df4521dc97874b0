import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Scratch space for benchmarks (ignored by git). */
export const WORK = path.join(ROOT, 'bench', '.work');
export const CLI = path.join(ROOT, 'bin', 'upcat.js');

export async function workDir(name: string): Promise<string> {
  const dir = path.join(WORK, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

export interface Timed {
  ms: number;
  stdout: string;
  stderr: string;
  /** Peak resident set size in KiB, when measured through /usr/bin/time. */
  maxRssKb?: number;
}

/** Runs a command to completion and times it; with `rss`, through GNU time for the peak RSS. */
export function timed(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; rss?: boolean } = {},
): Promise<Timed> {
  const [file, argv] =
    opts.rss === true ? ['/usr/bin/time', ['-f', 'maxrss=%M', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file as string, argv as string[], { env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0)
        return reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
      const rss = /maxrss=(\d+)/.exec(stderr);
      resolve({
        ms,
        stdout,
        stderr,
        ...(rss?.[1] !== undefined ? { maxRssKb: Number(rss[1]) } : {}),
      });
    });
  });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a child server to listen on). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers (any status), or throws after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await (await fetch(url)).arrayBuffer();
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`${url} did not answer in ${timeoutMs} ms`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Throws unless dist/ (what bin/upcat.js runs) is at least as new as every file under src/: a
 * benchmark run directly (`node --import tsx bench/<name>.ts`) would otherwise measure an older
 * build without saying so. `npm run bench` builds first.
 */
export function assertBuilt(): void {
  const built = statSync(path.join(ROOT, 'dist', 'cli', 'run.js'), { throwIfNoEntry: false });
  const src = path.join(ROOT, 'src');
  const newest = Math.max(
    ...readdirSync(src, { recursive: true, encoding: 'utf8' }).map(
      (f) => statSync(path.join(src, f)).mtimeMs,
    ),
  );
  if (built === undefined || built.mtimeMs < newest)
    throw new Error('bench: dist/ is missing or older than src/; run `npm run build` first');
}
