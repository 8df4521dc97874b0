import { collect, spawnCli, type CliResult } from './cli.js';

/**
 * `upcat serve` on a free loopback port, as a child process, for CLI tests that run commands
 * with `--server`; `stop()` ends it and waits for it to exit.
 */
export async function serveCli(
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawnCli(['serve', '--port', '0', '--host', '127.0.0.1'], env);
  const done = collect(child);
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      const match = /on (http:\/\/[\d.]+:\d+)/.exec(seen);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    child.once('exit', () => reject(new Error(`server exited early: ${seen}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await done;
    },
  };
}

/** The standard output of a command that must succeed; otherwise an error with its stderr. */
export function stdoutOf(r: CliResult): string {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}
