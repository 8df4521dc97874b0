/**
 * Pieces shared by the benchmarks that drive a server (agent-sync.ts, patch-day-storm.ts,
 * sync-storm.ts, site-sync.ts): a bounded pool of concurrent tasks, a scrape of the server's
 * `GET /metrics`, a process's memory and CPU time read from /proc, `upcat serve` in a child
 * process, and the PostgreSQL switch.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import knexFactory from 'knex';
import { parseExposition } from './prometheus.js';
import { assertBuilt, CLI, ROOT } from './util.js';

/** Runs `task` `n` times, at most `width` at once. */
export async function pool(n: number, width: number, task: () => Promise<void>): Promise<void> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < n) {
      started += 1;
      await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

/**
 * `GET /metrics`. With several worker processes (server.workers) each answers for itself; `fresh`
 * asks on a connection of its own, which node:cluster hands to the next worker in turn.
 */
export async function scrape(
  url: string,
  fresh = false,
): Promise<ReturnType<typeof parseExposition>> {
  const res = await fetch(`${url}/metrics`, fresh ? { headers: { connection: 'close' } } : {});
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
  return parseExposition(await res.text());
}

/** A process's current (VmRSS) or peak (VmHWM) resident memory in MiB; undefined if gone. */
export async function memoryMb(
  pid: number | undefined,
  field: 'VmRSS' | 'VmHWM',
): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
  } catch {
    return undefined;
  }
}

/**
 * `upcat serve` of the site that `env` names, on loopback `port`, in a child process: the built
 * CLI (bin/upcat.js, the CommonJS compile in dist/), as an operator runs it, so the build must be
 * current (assertBuilt). BENCH_SERVER_FLAGS adds Node flags to it (`--cpu-prof
 * --cpu-prof-dir=/tmp/prof`, say: the profile is written when the benchmark stops the server).
 */
export function spawnServe(
  env: NodeJS.ProcessEnv,
  port: number,
  nodeFlags: string[] = [],
): ChildProcess {
  assertBuilt();
  const extra = (process.env['BENCH_SERVER_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
  return spawn(
    process.execPath,
    [...extra, ...nodeFlags, CLI, 'serve'].concat(['--host', '127.0.0.1', '--port', String(port)]),
    { env: { ...env, UPCAT_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'], cwd: ROOT },
  );
}

/**
 * A server and its worker processes (server.workers): the pid and its children, from
 * /proc/<pid>/task/<pid>/children. Figures of "the server" are summed over them.
 */
export async function serverPids(pid: number | undefined): Promise<number[]> {
  if (pid === undefined) return [];
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return [
    pid,
    ...children
      .split(' ')
      .filter((c) => c.trim() !== '')
      .map(Number),
  ];
}

/** A process's CPU time (user + system) in ms: /proc/<pid>/stat fields 14 and 15 (10 ms ticks). */
export async function cpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 10;
}

/**
 * Points a benchmark's site at PostgreSQL when BENCH_DATABASE_URL is set: a schema of its own,
 * dropped first (a fresh site each run). Without it the site stays on embedded SQLite.
 */
export async function usePostgresIfAsked(env: NodeJS.ProcessEnv, schema: string): Promise<void> {
  const url = process.env['BENCH_DATABASE_URL'];
  if (url === undefined) return;
  const db = knexFactory({ client: 'pg', connection: url });
  try {
    await db.raw(`drop schema if exists "${schema}" cascade`);
  } finally {
    await db.destroy();
  }
  Object.assign(env, { DATABASE_URL: url, UPCAT_DATABASE_SCHEMA: schema });
}
