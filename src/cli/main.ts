import { Command, CommanderError } from './commander.js';
import { isUpcatError } from '../errors.js';
import { SITE_VERSION } from '../version.js';
type Register = (program: Command) => void;

/**
 * Every command, by name, with the module that defines it. Only the command being run is
 * loaded: the modules behind the site commands (knex, the database drivers, forge, express)
 * cost most of a second to load, which a pipeline calling `upcat` in a loop, or an endpoint's
 * agent, would pay on every run. `--help` and unknown names load them all.
 */
const COMMANDS: ReadonlyArray<readonly [string, () => Promise<Register>]> = [
  ['init', async () => (await import('./commands/init.js')).registerInit],
  ['package', async () => (await import('./commands/package.js')).registerPackage],
  ['publish', async () => (await import('./commands/publish.js')).registerPublish],
  ['expire', async () => (await import('./commands/expire.js')).registerExpire],
  ['updates', async () => (await import('./commands/updates.js')).registerUpdates],
  ['serve', async () => (await import('./commands/serve.js')).registerServe],
  ['keys', async () => (await import('./commands/keys.js')).registerKeys],
  ['verify', async () => (await import('./commands/verify.js')).registerVerify],
  ['demo', async () => (await import('./commands/demo.js')).registerDemo],
  ['rules', async () => (await import('./commands/rules.js')).registerRules],
  [
    'import-catalog',
    async () => (await import('./commands/import-catalog.js')).registerImportCatalog,
  ],
  ['clients', async () => (await import('./commands/clients.js')).registerClients],
  ['groups', async () => (await import('./commands/groups.js')).registerGroups],
  ['approve', async () => (await import('./commands/approve.js')).registerApprove],
  ['deployments', async () => (await import('./commands/deployments.js')).registerDeployments],
  ['report', async () => (await import('./commands/report.js')).registerReport],
  ['token', async () => (await import('./commands/token.js')).registerToken],
  ['users', async () => (await import('./commands/users.js')).registerUsers],
  ['promote', async () => (await import('./commands/promote.js')).registerPromote],
  ['rollouts', async () => (await import('./commands/rollouts.js')).registerRollouts],
  ['audit', async () => (await import('./commands/audit.js')).registerAudit],
  ['agent', async () => (await import('./commands/agent.js')).registerAgent],
  ['content', async () => (await import('./commands/content.js')).registerContent],
  ['backup', async () => (await import('./commands/backup.js')).registerBackup],
  ['restore', async () => (await import('./commands/restore.js')).registerRestore],
  ['gc', async () => (await import('./commands/gc.js')).registerGc],
  ['migrate-db', async () => (await import('./commands/migrate-db.js')).registerMigrateDb],
  [
    'migrate-storage',
    async () => (await import('./commands/migrate-storage.js')).registerMigrateStorage,
  ],
  ['export', async () => (await import('./commands/export.js')).registerExport],
  ['gpo', async () => (await import('./commands/gpo.js')).registerGpo],
  ['mirror', async () => (await import('./commands/mirror.js')).registerMirror],
  ['sign', async () => (await import('./commands/sign.js')).registerSign],
];

/** Global options that take a value: their value is not the command name. */
const VALUED_GLOBALS = new Set(['--home']);

/** The command named on the command line (after the global options), if any. */
export function commandNameOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (VALUED_GLOBALS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return a;
  }
  return undefined;
}

/**
 * The program with the commands `args` needs: the one it names when that is a known command,
 * otherwise every command (so that help lists them and a typo gets a suggestion).
 */
export async function buildProgram(args: readonly string[] = []): Promise<Command> {
  const name = commandNameOf(args);
  const wanted = COMMANDS.filter(([n]) => n === name);
  // `upcat -V` needs no command at all.
  const versionOnly = name === undefined && args.includes('-V');
  const registers = await Promise.all(
    (versionOnly ? [] : wanted.length === 1 ? wanted : COMMANDS).map(([, load]) => load()),
  );

  const program = new Command('upcat')
    .description('upcat: a software update catalog publisher with a signed catalog')
    .version(SITE_VERSION, '-V', 'print the upcat version')
    .option('--home <dir>', 'site home (default: $UPCAT_HOME, else the current directory)')
    .option('--verbose', 'log debug detail to stderr')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of registers) register(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Runs the CLI: exit 0 on success; on failure one line on stderr and a non-zero exit. */
export async function main(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(argv.slice(2))).parseAsync(argv);
    // A command that ended without an error may still set its own code (serve's primary, whose
    // worker already said why it could not start).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
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
