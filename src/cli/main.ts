import { Command, CommanderError } from 'commander';
import { isUpcatError } from '../errors.js';
import { SITE_VERSION } from '../version.js';
import { registerDemo } from './commands/demo.js';
import { registerExpire } from './commands/expire.js';
import { registerInit } from './commands/init.js';
import { registerPackage } from './commands/package.js';
import { registerPublish } from './commands/publish.js';
import { registerServe } from './commands/serve.js';
import { registerKeys } from './commands/keys.js';
import { registerVerify } from './commands/verify.js';
import { registerRules } from './commands/rules.js';
import { registerImportCatalog } from './commands/import-catalog.js';
import { registerClients } from './commands/clients.js';
import { registerGroups } from './commands/groups.js';
import { registerApprove } from './commands/approve.js';
import { registerReport } from './commands/report.js';

export function buildProgram(): Command {
  const program = new Command('upcat')
    .description('upcat: a software update catalog publisher with a signed catalog')
    .version(SITE_VERSION, '-V', 'print the upcat version')
    .option('--home <dir>', 'site home (default: $UPCAT_HOME, else the current directory)')
    .option('--verbose', 'log debug detail to stderr')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of [
    registerInit,
    registerPackage,
    registerPublish,
    registerExpire,
    registerServe,
    registerKeys,
    registerVerify,
    registerDemo,
    registerRules,
    registerImportCatalog,
    registerClients,
    registerGroups,
    registerApprove,
    registerReport,
  ]) {
    register(program);
  }
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Runs the CLI: exit 0 on success; on failure one line on stderr and a non-zero exit. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed help, the version or its own one-line error.
      return err.exitCode;
    }
    const message = isUpcatError(err)
      ? err.message
      : err instanceof Error
        ? err.message
        : String(err);
    process.stderr.write(`upcat: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    if (process.env['UPCAT_DEBUG'] === '1' && err instanceof Error)
      process.stderr.write(`${err.stack}\n`);
    return isUpcatError(err) && err.code !== 'internal' ? 2 : 1;
  }
}
