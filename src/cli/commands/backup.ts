import type { Command } from 'commander';
import { PASSPHRASE_ENV, readPassphrase } from '../../ops/secret-box.js';
import { invalidInput } from '../../errors.js';
import { output, withSite } from '../context.js';

interface BackupFlags {
  out?: string;
  includeKeys?: boolean;
  passphraseFile?: string;
  json?: boolean;
}

/** `upcat backup --out FILE` (docs/OPERATIONS.md, "Backup and restore"). */
export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description(
      'take a consistent online backup of the site (database, TUF repository, payloads and their ' +
        'signatures, config) into one tar file, while publishes and syncs go on (docs/OPERATIONS.md)',
    )
    .requiredOption('--out <file>', 'the backup file to write (must not exist)')
    .option(
      '--include-keys',
      `also include signing/ (every key), encrypted with a passphrase from --passphrase-file or $${PASSPHRASE_ENV}`,
    )
    .option(
      '--passphrase-file <file>',
      'file whose first line is the passphrase (never give it on the command line)',
    )
    .option('--json', 'print the result as JSON')
    .action(async (opts: BackupFlags, cmd: Command) => {
      const passphrase =
        opts.includeKeys === true
          ? await readPassphrase(opts.passphraseFile, process.env)
          : undefined;
      if (opts.includeKeys === true && passphrase === undefined) {
        throw invalidInput(
          `--include-keys needs a passphrase: --passphrase-file FILE or $${PASSPHRASE_ENV}`,
        );
      }
      const { takeBackup } = await import('../../ops/backup.js');
      const result = await withSite(cmd, (site) =>
        takeBackup(site, {
          out: opts.out as string,
          ...(passphrase === undefined ? {} : { passphrase }),
        }),
      );
      output(opts.json, result, () =>
        [
          `wrote ${result.file}: ${result.entries} files, ${result.bytes} bytes, ${result.manifest.database.kind} database at catalog version ${result.manifest.database.catalogVersion}`,
          `TUF versions recorded: timestamp ${result.manifest.tuf.timestamp}, snapshot ${result.manifest.tuf.snapshot}, targets ${result.manifest.tuf.targets}, bins up to ${result.manifest.tuf.bins}, root ${result.manifest.tuf.root}`,
          result.manifest.keys
            ? 'signing keys included, encrypted (scrypt + AES-256-GCM)'
            : 'signing keys NOT included: keep a copy of signing/ to restore with --signing-from',
          ...(result.missingPayloads > 0
            ? [
                `${result.missingPayloads} payloads named by the database were already collected by gc`,
              ]
            : []),
        ].join('\n'),
      );
    });
}
