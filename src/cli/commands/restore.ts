import type { Command } from 'commander';
import { PASSPHRASE_ENV, readPassphrase } from '../../ops/secret-box.js';
import { invalidInput } from '../../errors.js';
import { globalOptions, output } from '../context.js';

interface RestoreFlags {
  passphraseFile?: string;
  signingFrom?: string;
  versionMargin?: string;
  json?: boolean;
}

/** `upcat restore FILE --home DIR` (docs/OPERATIONS.md, "Backup and restore"). */
export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description(
      'restore a backup into the empty site home given by --home, re-signing the catalog above every version the ' +
        'backed-up site could have published, so clients are never rolled back (docs/OPERATIONS.md)',
    )
    .argument('<file>', 'a file written by upcat backup')
    .option(
      '--passphrase-file <file>',
      `passphrase for the backup's signing keys (or $${PASSPHRASE_ENV})`,
    )
    .option(
      '--signing-from <dir>',
      "a copy of the site's signing/ folder, for a backup taken without --include-keys",
    )
    .option(
      '--version-margin <n>',
      'fixed part of the version jump (default 1000000; one per second since the backup is added)',
    )
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: RestoreFlags, cmd: Command) => {
      const home = globalOptions(cmd).home;
      if (home === undefined) throw invalidInput('--home DIR: where to restore the site');
      let margin: number | undefined;
      if (opts.versionMargin !== undefined) {
        if (!/^\d{1,9}$/.test(opts.versionMargin) || Number(opts.versionMargin) < 1000) {
          throw invalidInput('--version-margin must be a whole number from 1000 to 999999999');
        }
        margin = Number(opts.versionMargin);
      }
      const passphrase = await readPassphrase(opts.passphraseFile, process.env);
      const { restoreBackup } = await import('../../ops/restore.js');
      const result = await restoreBackup({
        file,
        home,
        ...(passphrase === undefined ? {} : { passphrase }),
        ...(opts.signingFrom === undefined ? {} : { signingFrom: opts.signingFrom }),
        ...(margin === undefined ? {} : { margin }),
      });
      output(opts.json, result, () =>
        [
          `restored the backup of ${result.backupCreatedAt} into ${result.home} (${result.payloads} payloads)`,
          `TUF: the backup's highest versions were timestamp ${result.backupTuf.timestamp}, snapshot ${result.backupTuf.snapshot}, targets ${result.backupTuf.targets}, bins ${result.backupTuf.bins}; ` +
            `targets, every bin, snapshot and timestamp are re-signed at version ${result.tufVersion} (margin ${result.margin}), root unchanged`,
          `catalog version ${result.backupCatalogVersion} -> ${result.catalogVersion}: clients that saw a later catalog move forward, not back`,
          'what was published after the backup is not in this site: publish it again',
        ].join('\n'),
      );
    });
}
