/**
 * Pieces shared by the simulated-endpoint benchmarks (agent-sync.ts, patch-day-storm.ts): a
 * bounded pool of concurrent tasks, a scrape of the server's `GET /metrics`, and a process's
 * memory read from /proc.
 */
import { readFile } from 'node:fs/promises';
import { parseExposition } from './prometheus.js';

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

export async function scrape(url: string): Promise<ReturnType<typeof parseExposition>> {
  const res = await fetch(`${url}/metrics`);
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
