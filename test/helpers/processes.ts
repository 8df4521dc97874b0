import { collect, spawnCli, type CliResult } from './cli.js';

/** Runs the CLI to completion, killing it (and saying so) if it outlives `timeoutMs`. */
export async function runCliWithin(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<CliResult & { timedOut: boolean }> {
  const child = spawnCli(args, env);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  try {
    return { ...(await collect(child)), timedOut };
  } finally {
    clearTimeout(timer);
  }
}

export interface Served {
  url: string;
  port: number;
  /** The `upcat serve` process (with server.workers, the primary). */
  pid: number;
  /** SIGTERM: the server finishes the requests in flight, then exits (SIGKILL after 15 s). */
  stop(): Promise<void>;
  /** SIGKILL: the process dies at once, in the middle of any response it is sending. */
  kill(): Promise<void>;
  /** What the server has written to stderr so far (its log). */
  log(): string;
}

/** Starts `upcat serve` on 127.0.0.1 (`port` 0: any free port) and waits until it serves. */
export async function startServe(
  env: NodeJS.ProcessEnv,
  port = 0,
  timeoutMs = 30_000,
  extraArgs: string[] = [],
): Promise<Served> {
  const child = spawnCli(
    ['serve', '--port', String(port), '--host', '127.0.0.1', ...extraArgs],
    env,
  );
  const done = collect(child);
  let exited = false;
  void done.then(() => (exited = true));
  let seen = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`upcat serve did not start within ${timeoutMs} ms: ${seen}`));
    }, timeoutMs);
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /serving site \w+ on (http:\/\/[\d.]+:\d+)/.exec(seen);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void done.then(() => {
      clearTimeout(timer);
      reject(new Error(`upcat serve exited early: ${seen}`));
    });
  });
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (exited) return;
    child.kill(signal);
    const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(force);
  };
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid ?? 0,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    log: () => seen,
  };
}
