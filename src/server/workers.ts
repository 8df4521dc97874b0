import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processAlive } from '../process-alive.js';
import { ChangeBoard } from '../storage/change-board.js';
import type { WorkerExposition } from './metrics-merge.js';

/**
 * Several server processes on one node (`server.workers`, issue 16): Node runs JavaScript on one
 * core per process, and one process answers about 10,000 syncs a second. The primary process
 * (this module) serves nothing itself: it makes the change board, starts the workers through
 * node:cluster (which shares the listening sockets and hands each new connection to the next
 * worker in turn), starts a new one in place of one that dies, and stops them all on SIGTERM or
 * SIGINT. Each worker is `upcat serve` as one process runs it, with the change board shared
 * (storage/change-board.ts) so that a change made through one is seen by the others at once.
 * Everything else the workers share the way several nodes do (docs/OPERATIONS.md "Several
 * nodes"): through the database, the signing directory and the catalog's files.
 */

const SLOT_ENV = 'UPCAT_WORKER_SLOT';
/** The config's own override (config/load.ts): a worker's config says how many there are. */
const COUNT_ENV = 'UPCAT_WORKERS';
const BOARD_ENV = 'UPCAT_CHANGE_BOARD';

/** A worker's first start is followed by the others only once it listens (it migrates, makes keys). */
interface Listening {
  upcat: 'listening';
  urls: string[];
  site: string;
}
interface Stop {
  upcat: 'stop';
}
/**
 * GET /metrics answers for every worker (metrics-merge.ts): the worker that took the scrape asks
 * the primary (`metrics-req`), which asks each worker (`metrics-collect`), gathers their texts
 * (`metrics-text`) and sends them back (`metrics-res`).
 */
interface MetricsReq {
  upcat: 'metrics-req';
  id: number;
}
interface MetricsCollect {
  upcat: 'metrics-collect';
  id: number;
}
interface MetricsText {
  upcat: 'metrics-text';
  id: number;
  worker: number;
  text: string;
}
interface MetricsRes {
  upcat: 'metrics-res';
  id: number;
  parts: WorkerExposition[];
}
type Kind =
  'listening' | 'stop' | 'metrics-req' | 'metrics-collect' | 'metrics-text' | 'metrics-res';

/** How long a scrape waits for the other workers' metrics; one that is slower is left out. */
const GATHER_MS = 3_000;

/** What a worker process knows of its place: its slot and the shared change board. */
export interface WorkerRole {
  slot: number;
  count: number;
  board: ChangeBoard;
  /** Tells the primary this worker listens (the primary says where, once, for all). */
  listening(urls: string[], site: string): void;
  /** Calls `stop` when the primary asks this worker to stop. */
  onStop(stop: () => void): void;
  /** Answers the primary's requests for this worker's metrics with `text()`. */
  answerMetrics(text: () => Promise<string>): void;
  /** Every worker's metrics, gathered through the primary (GET /metrics). */
  gatherMetrics(): Promise<WorkerExposition[]>;
}

/** In a worker started by runWorkers: its role; in any other process, undefined. */
export function workerRole(): WorkerRole | undefined {
  if (!cluster.isWorker) return undefined;
  const slot = Number(process.env[SLOT_ENV]);
  const count = Number(process.env[COUNT_ENV]);
  const file = process.env[BOARD_ENV];
  if (file === undefined || !Number.isInteger(slot) || !Number.isInteger(count))
    throw new Error(`a cluster worker without ${SLOT_ENV}, ${COUNT_ENV} and ${BOARD_ENV}`);
  const gathers = new Map<number, (parts: WorkerExposition[]) => void>();
  let nextGather = 0;
  process.on('message', (m: unknown) => {
    if (isMessage(m, 'metrics-res')) gathers.get((m as MetricsRes).id)?.((m as MetricsRes).parts);
  });
  return {
    slot,
    count,
    board: ChangeBoard.open(file, slot, count),
    listening: (urls, site) => process.send?.({ upcat: 'listening', urls, site } as Listening),
    onStop: (stop) =>
      process.on('message', (m: unknown) => {
        if (isMessage(m, 'stop')) stop();
      }),
    answerMetrics: (text) =>
      process.on('message', (m: unknown) => {
        if (!isMessage(m, 'metrics-collect')) return;
        const { id } = m as MetricsCollect;
        void text().then(
          (t) =>
            process.send?.({ upcat: 'metrics-text', id, worker: slot, text: t } as MetricsText),
          () =>
            process.send?.({ upcat: 'metrics-text', id, worker: slot, text: '' } as MetricsText),
        );
      }),
    gatherMetrics: () =>
      new Promise((resolve, reject) => {
        const id = nextGather++;
        const timer = setTimeout(() => {
          gathers.delete(id);
          reject(new Error('the workers did not send their metrics in time'));
        }, GATHER_MS * 2);
        gathers.set(id, (parts) => {
          clearTimeout(timer);
          gathers.delete(id);
          resolve(parts);
        });
        process.send?.({ upcat: 'metrics-req', id } as MetricsReq);
      }),
  };
}

export interface WorkersOptions {
  workers: number;
  /** How long stopping waits for a worker's requests in flight (server.shutdownTimeoutMs). */
  shutdownTimeoutMs: number;
  /** One line for the operator (stderr). */
  say(line: string): void;
}

/** A worker that dies within this long of its start is restarted after a growing pause. */
const QUICK_DEATH_MS = 10_000;
const MAX_RESTART_PAUSE_MS = 30_000;

/**
 * Runs `workers` copies of this process's command as cluster workers until SIGTERM or SIGINT;
 * resolves with the exit code: 0 after a clean stop, the first worker's code when it could not
 * start (its own error line is on stderr already).
 */
export async function runWorkers(opts: WorkersOptions): Promise<number> {
  removeStaleBoards(os.tmpdir());
  const dir = mkdtempSync(path.join(os.tmpdir(), `${BOARD_DIR_PREFIX}${process.pid}-`));
  const boardFile = path.join(dir, 'changes');
  ChangeBoard.create(boardFile, opts.workers);
  const running = new Map<number, Worker>();
  let stopping = false;
  const pauses = new Map<number, number>();
  /** Workers that listen, and so stop when asked; one still starting is sent SIGTERM. */
  const ready = new WeakSet<Worker>();

  const start = (slot: number): Promise<Listening> =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const worker = cluster.fork({
        // Also the count in the worker's own config (a --workers flag is not in the file).
        [COUNT_ENV]: String(opts.workers),
        [SLOT_ENV]: String(slot),
        [BOARD_ENV]: boardFile,
      });
      running.set(slot, worker);
      // A message to a worker whose channel just closed fails here; its 'exit' follows and is
      // what counts.
      worker.on('error', () => undefined);
      let listening = false;
      worker.on('message', (m: unknown) => {
        if (isMessage(m, 'metrics-req')) {
          const { id } = m as MetricsReq;
          void gatherFrom([...running.values()].filter((w) => ready.has(w))).then((parts) => {
            if (worker.isConnected())
              worker.send({ upcat: 'metrics-res', id, parts } as MetricsRes);
          });
          return;
        }
        if (!isMessage(m, 'listening') || listening) return;
        listening = true;
        ready.add(worker);
        resolve(m as Listening);
      });
      worker.once('exit', (code, signal) => {
        if (running.get(slot) === worker) running.delete(slot);
        // It may have died inside a changing transaction: the others must not wait on it.
        ChangeBoard.clear(boardFile, slot);
        if (!listening) {
          reject(new WorkerFailed(code ?? 1));
          return;
        }
        if (stopping) return;
        const quick = Date.now() - started < QUICK_DEATH_MS;
        const pause = quick ? Math.min(MAX_RESTART_PAUSE_MS, (pauses.get(slot) ?? 500) * 2) : 0;
        pauses.set(slot, quick ? pause : 500);
        opts.say(
          `worker ${slot} (pid ${worker.process.pid}) exited (${signal ?? `code ${code}`}); starting another${pause > 0 ? ` in ${pause / 1000} s` : ''}`,
        );
        restart(slot, pause);
      });
    });

  let nextCollect = 0;
  /** Each worker's metrics text; a worker that does not answer within GATHER_MS is left out. */
  const gatherFrom = (workers: Worker[]): Promise<WorkerExposition[]> => {
    const id = nextCollect++;
    return new Promise((resolve) => {
      const parts: WorkerExposition[] = [];
      const asked = workers.filter((w) => w.isConnected());
      const finish = (): void => {
        clearTimeout(timer);
        for (const w of asked) w.off('message', hear);
        resolve(parts);
      };
      const hear = (m: unknown): void => {
        if (!isMessage(m, 'metrics-text') || (m as MetricsText).id !== id) return;
        parts.push({ worker: (m as MetricsText).worker, text: (m as MetricsText).text });
        if (parts.length === asked.length) finish();
      };
      const timer = setTimeout(finish, GATHER_MS);
      for (const w of asked) {
        w.on('message', hear);
        w.send({ upcat: 'metrics-collect', id } as MetricsCollect);
      }
      if (asked.length === 0) finish();
    });
  };

  const restart = (slot: number, pause: number): void => {
    setTimeout(() => {
      if (stopping) return;
      start(slot).catch(() => restart(slot, Math.min(MAX_RESTART_PAUSE_MS, pause * 2 || 1000)));
    }, pause);
  };

  const stopAll = async (): Promise<boolean> => {
    stopping = true;
    const exits = [...running.values()].map(
      (w) =>
        new Promise<boolean>((resolve) => {
          if (w.isDead()) return resolve(w.process.exitCode === 0);
          w.once('exit', (code) => resolve(code === 0));
          if (ready.has(w) && w.isConnected()) w.send({ upcat: 'stop' } as Stop);
          else w.process.kill('SIGTERM');
        }),
    );
    // Past the workers' own drain timeout, whatever is left is killed.
    const kill = setTimeout(() => {
      for (const w of running.values()) w.process.kill('SIGKILL');
    }, opts.shutdownTimeoutMs + 5_000);
    const clean = (await Promise.all(exits)).every(Boolean);
    clearTimeout(kill);
    return clean;
  };

  try {
    // The first alone: it brings the database schema up to date and may make keys and the
    // server certificate; the others then start together from what it made.
    const first = await start(0);
    await Promise.all(Array.from({ length: opts.workers - 1 }, (_, i) => start(i + 1)));
    opts.say(
      `serving site ${first.site} on ${first.urls.join(' and ')} with ${opts.workers} worker processes (Ctrl-C to stop)`,
    );
  } catch (err) {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    return err instanceof WorkerFailed ? err.code || 1 : 1;
  }
  const clean = await new Promise<boolean>((resolve) => {
    const stop = (): void => void stopAll().then(resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  rmSync(dir, { recursive: true, force: true });
  return clean ? 0 : 1;
}

class WorkerFailed extends Error {
  constructor(readonly code: number) {
    super(`a worker exited with code ${code} before it listened`);
  }
}

/** The change board's folder: `upcat-workers-<primary's pid>-<random>` in the temporary directory. */
const BOARD_DIR_PREFIX = 'upcat-workers-';
const BOARD_DIR = new RegExp(`^${BOARD_DIR_PREFIX}(\\d+)-[A-Za-z0-9]+$`);

/**
 * Removes the change-board folders of primaries that are no longer running: one stopped by
 * SIGKILL (or a crash of the machine's power) cannot remove its own. A folder whose pid is alive
 * is kept, whoever that process now is (a reused pid keeps a stale folder, never removes a live
 * one), and so is one this user may not remove (another user's node). Returns the folders removed.
 */
export function removeStaleBoards(tmp: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return removed;
  }
  for (const name of names) {
    const pid = Number(BOARD_DIR.exec(name)?.[1] ?? NaN);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || processAlive(pid))
      continue;
    try {
      rmSync(path.join(tmp, name), { recursive: true, force: true });
      removed.push(name);
    } catch {
      // Not ours to remove (sticky /tmp, another user's): left as it is.
    }
  }
  return removed;
}

function isMessage(m: unknown, kind: Kind): boolean {
  return typeof m === 'object' && m !== null && (m as { upcat?: unknown }).upcat === kind;
}
