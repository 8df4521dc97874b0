import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { Site } from '../app.js';

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
  // Loaded here, not at the top: commands that never open a site (package, agent, --help, and
  // every command given --server) skip the database drivers, forge and the services (see
  // COMMANDS in main.ts).
  const [{ openSite }, { auditSource }] = await Promise.all([
    import('../app.js'),
    import('../storage/catalog-repo.js'),
  ]);
  const site = await openSite({
    home: opts.home,
    logLevel: opts.verbose === true ? 'debug' : 'warn',
  });
  try {
    return await auditSource.run('cli', () => fn(site));
  } finally {
    await site.close();
  }
}

/** Prints a result: JSON for scripts, or the human form. */
export function output(json: boolean | undefined, value: unknown, human: () => string): void {
  process.stdout.write(json === true ? `${JSON.stringify(value)}\n` : `${human()}\n`);
}

/** Who a local command acts as, for the audit log: `cli:<os user>`. */
export function localActor(): string {
  let user = process.env['USER'];
  try {
    user ??= userInfo().username;
  } catch {
    // no passwd entry for this uid (some containers)
  }
  return `cli:${user ?? 'local'}`;
}
