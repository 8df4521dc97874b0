import type { Command } from 'commander';
import { UpcatError, invalidInput } from '../../errors.js';
import { listKeys } from '../../signing/key-store.js';
import { isTopRole } from '../../signing/roles.js';
import { rotateKey } from '../../signing/rotate.js';
import { audit } from '../../storage/catalog-repo.js';
import { localActor, withSite, output } from '../context.js';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('the TUF signing keys of the site');

  keys
    .command('list')
    .description('list the keys of every role (public facts only: role, key ID, type, created)')
    .option('--json', 'print the keys as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const list = await listKeys(site.config.dirs.signing);
        const shown = list.map(({ role, keyid, kind, created }) => ({
          role,
          keyid,
          kind,
          created,
        }));
        output(opts.json, shown, () =>
          shown.length === 0
            ? 'no keys yet: run "upcat init"'
            : shown
                .map((k) => `${k.role.padEnd(10)} ${k.kind.padEnd(11)} ${k.keyid}  ${k.created}`)
                .join('\n'),
        );
      });
    });

  keys
    .command('rotate')
    .description(
      'replace the keys of a role; a new root, signed by old and new root keys, lists them',
    )
    .argument('<role>', 'root, targets, snapshot or timestamp')
    .option('--count <n>', 'how many keys the role gets (default: as many as it has)')
    .option('--threshold <n>', 'signatures the role needs (default: unchanged)')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        role: string,
        opts: { count?: string; threshold?: string; json?: boolean },
        cmd: Command,
      ) => {
        if (!isTopRole(role))
          throw invalidInput(`role: "${role}" is not one of root, targets, snapshot, timestamp`);
        const count = opts.count === undefined ? undefined : positive(opts.count, '--count');
        const threshold =
          opts.threshold === undefined ? undefined : positive(opts.threshold, '--threshold');
        await withSite(cmd, async (site) => {
          if (site.signing === undefined)
            throw invalidInput('this site has no keys yet: run "upcat init"');
          const result = await rotateKey(site.config.dirs.signing, site.signing.repoDir, role, {
            keyCount: count,
            threshold,
            expiryDays: site.config.signing.expiryDays,
          });
          const shown = {
            role: result.role,
            retired: result.retired,
            created: result.created.map((k) => k.keyid),
            rootVersion: result.repository?.rootVersion,
          };
          // The keys and metadata are files (written, fsynced, renamed), not rows: no database
          // transaction can span them, and rolling the files back after a failed insert could
          // itself fail halfway. So the row follows the completed rotation, and a failure to
          // write it is reported (the rotation stands) rather than lost.
          const audited = await audit(site.db, {
            actor: localActor(),
            action: 'keys.rotate',
            target: role,
            detail: shown,
          }).then(
            () => undefined,
            (err: unknown) => (err instanceof Error ? err.message : String(err)),
          );
          output(
            opts.json,
            shown,
            () =>
              `rotated ${role}: ${shown.created.length} new key(s), ${shown.retired.length} retired; root is now version ${shown.rootVersion ?? '?'}`,
          );
          if (audited !== undefined)
            throw new UpcatError(
              'internal',
              `keys rotate: ${role} was rotated, but its audit row was not written: ${audited}`,
            );
        });
      },
    );
}

function positive(value: string, flag: string): number {
  if (!/^[1-9]\d{0,1}$/.test(value))
    throw invalidInput(`${flag}: "${value}" is not a whole number from 1 to 99`);
  return Number(value);
}
