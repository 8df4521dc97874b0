import type { Command } from 'commander';
import { openSite, type Site } from '../app.js';

/** Options every command accepts (declared on the root program). */
export interface GlobalOptions {
  home?: string;
  verbose?: boolean;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** Opens the site for one command and always closes it, so the process can exit promptly. */
export async function withSite<T>(cmd: Command, fn: (site: Site) => Promise<T>): Promise<T> {
  const opts = globalOptions(cmd);
  const site = await openSite({
    home: opts.home,
    logLevel: opts.verbose === true ? 'debug' : 'warn',
  });
  try {
    return await fn(site);
  } finally {
    await site.close();
  }
}

/** Prints a result: JSON for scripts, or the human form. */
export function output(json: boolean | undefined, value: unknown, human: () => string): void {
  process.stdout.write(json === true ? `${JSON.stringify(value)}\n` : `${human()}\n`);
}
