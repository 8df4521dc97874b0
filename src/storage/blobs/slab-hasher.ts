import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

export interface Digests {
  sha256: string;
  sha1: string;
}

/** SHA-256 and SHA-1 of a staged payload, fed slab by slab in order. */
export interface SlabHasher {
  /** Hashes `slab[0, length)`; settles when the slab may be reused. */
  update(slab: Buffer, length: number): Promise<void>;
  digest(): Promise<Digests>;
  /** Forgets the state after a failure. */
  drop(): void;
}

/** On the calling thread: for payloads of a single slab, where a worker's round trip is waste. */
export function inlineHasher(): SlabHasher {
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1');
  return {
    update: (slab, length) => {
      const bytes = slab.subarray(0, length);
      sha256.update(bytes);
      sha1.update(bytes);
      return Promise.resolve();
    },
    digest: () => Promise.resolve({ sha256: sha256.digest('hex'), sha1: sha1.digest('hex') }),
    drop: () => undefined,
  };
}

/**
 * Slabs live in shared memory, so the worker reads them where the staging file wrote them: a
 * message per slab, no copy. A set is registered once (by id) and forgotten when it is dropped.
 */
export interface SharedSlabs {
  id: number;
  buffer: SharedArrayBuffer;
}

/**
 * On the hash worker (one per process, started on first use): both digests of a large payload
 * run beside the main thread, which then only moves bytes from the socket into the slabs.
 * SHA-256 and SHA-1 cost ~1.3 s per GiB here (docs/BENCHMARKS.md, issue 7); on the main thread
 * that was most of an upload's time.
 */
export function workerHasher(set: SharedSlabs, slabOffset: (slab: Buffer) => number): SlabHasher {
  const worker = HashWorker.get();
  const job = worker.open(set);
  return {
    update: (slab, length) => worker.hash(job, set.id, slabOffset(slab), length),
    digest: () => worker.digest(job),
    drop: () => worker.drop(job),
  };
}

/** Whether this process has started its hash worker (for tests and diagnostics). */
export function hashWorkerRunning(): boolean {
  return HashWorker.current !== undefined;
}

/** Tells the worker that a slab set is gone (it was not kept for reuse). */
export function forgetSlabs(set: SharedSlabs): void {
  HashWorker.current?.forget(set.id);
}

/**
 * The worker's code, evaluated as CommonJS in the worker: small enough to keep here, and so it
 * loads the same way from dist/ and from the sources under tsx.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const memories = new Map();
const jobs = new Map();
const stateOf = (job) => {
  let state = jobs.get(job);
  if (state === undefined) {
    state = [createHash('sha256'), createHash('sha1')];
    jobs.set(job, state);
  }
  return state;
};
parentPort.on('message', (m) => {
  try {
    if (m.op === 'memory') memories.set(m.set, Buffer.from(m.buffer));
    else if (m.op === 'forget') memories.delete(m.set);
    else if (m.op === 'drop') jobs.delete(m.job);
    else if (m.op === 'hash') {
      const bytes = memories.get(m.set).subarray(m.offset, m.offset + m.length);
      const [sha256, sha1] = stateOf(m.job);
      sha256.update(bytes);
      sha1.update(bytes);
      parentPort.postMessage({ job: m.job });
    } else if (m.op === 'digest') {
      const [sha256, sha1] = stateOf(m.job);
      jobs.delete(m.job);
      parentPort.postMessage({ job: m.job, sha256: sha256.digest('hex'), sha1: sha1.digest('hex') });
    }
  } catch (err) {
    jobs.delete(m.job);
    parentPort.postMessage({ job: m.job, error: String((err && err.message) || err) });
  }
});
`;

type Reply = { job: number; error?: string } & Partial<Digests>;

interface Waiter {
  resolve(reply: Reply): void;
  reject(err: Error): void;
}

class HashWorker {
  static current: HashWorker | undefined;

  static get(): HashWorker {
    HashWorker.current ??= new HashWorker();
    return HashWorker.current;
  }

  private readonly worker: Worker;
  private readonly known = new Set<number>();
  /** Per job, the replies awaited, in order: the worker answers each job's messages in order. */
  private readonly waiting = new Map<number, Waiter[]>();
  private pending = 0;
  private nextJob = 1;

  private constructor() {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    });
    this.worker.unref(); // an idle worker must not keep the process alive
    this.worker.on('message', (reply: Reply) => this.settle(reply));
    const stop = (err: Error): void => this.stopped(err);
    this.worker.on('error', stop);
    this.worker.on('exit', (code) => stop(new Error(`the hash worker exited (${code})`)));
  }

  open(set: SharedSlabs): number {
    if (!this.known.has(set.id)) {
      this.known.add(set.id);
      this.worker.postMessage({ op: 'memory', set: set.id, buffer: set.buffer });
    }
    const job = this.nextJob++;
    this.waiting.set(job, []);
    return job;
  }

  hash(job: number, set: number, offset: number, length: number): Promise<void> {
    return this.ask(job, { op: 'hash', job, set, offset, length }).then(() => undefined);
  }

  async digest(job: number): Promise<Digests> {
    const reply = await this.ask(job, { op: 'digest', job });
    this.waiting.delete(job);
    return { sha256: reply.sha256 ?? '', sha1: reply.sha1 ?? '' };
  }

  drop(job: number): void {
    if (!this.waiting.has(job)) return;
    this.worker.postMessage({ op: 'drop', job });
    this.waiting.delete(job);
  }

  forget(set: number): void {
    if (this.known.delete(set)) this.worker.postMessage({ op: 'forget', set });
  }

  private ask(job: number, message: Record<string, unknown>): Promise<Reply> {
    const queue = this.waiting.get(job);
    if (queue === undefined) return Promise.reject(new Error('hash job already finished'));
    return new Promise<Reply>((resolve, reject) => {
      queue.push({ resolve, reject });
      // Keep the process alive while an answer is owed (e.g. the CLI's last slab).
      if (this.pending++ === 0) this.worker.ref();
      this.worker.postMessage(message);
    });
  }

  private settle(reply: Reply): void {
    const waiter = this.waiting.get(reply.job)?.shift();
    if (--this.pending === 0) this.worker.unref();
    if (waiter === undefined) return; // a dropped job's late answer
    if (reply.error !== undefined) waiter.reject(new Error(`hashing failed: ${reply.error}`));
    else waiter.resolve(reply);
  }

  private stopped(err: Error): void {
    if (HashWorker.current === this) HashWorker.current = undefined;
    for (const queue of this.waiting.values()) for (const waiter of queue) waiter.reject(err);
    this.waiting.clear();
  }
}
