/**
 * Running the system tools that providers read (dpkg-query, rpm, reg, powershell). The runner is
 * injected so that providers can be tested with recorded outputs; the real one never goes
 * through a shell, caps time and output, and reports a missing program instead of throwing.
 */
import { execFile } from 'node:child_process';

export interface CommandResult {
  /** Exit code; 127 when the program does not exist, as a shell would say. */
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type CommandRunner = (program: string, args: readonly string[]) => Promise<CommandResult>;

export interface RunnerOptions {
  timeoutMs?: number;
  maxBuffer?: number;
}

export function systemRunner(options: RunnerOptions = {}): CommandRunner {
  return (program, args) =>
    new Promise((resolve) => {
      execFile(
        program,
        [...args],
        {
          timeout: options.timeoutMs ?? 60_000,
          maxBuffer: options.maxBuffer ?? 32 * 1024 * 1024,
          windowsHide: true,
          encoding: 'utf8',
        },
        (err, stdout, stderr) => {
          if (err === null) return resolve({ exitCode: 0, stdout, stderr });
          const code = (err as NodeJS.ErrnoException).code;
          const exitCode = typeof code === 'number' ? code : code === 'ENOENT' ? 127 : 1;
          resolve({ exitCode, stdout: stdout ?? '', stderr: stderr || err.message });
        },
      );
    });
}
