import type { Command } from 'commander';
import { UpcatError, invalidInput } from '../../errors.js';
import { readFile } from 'node:fs/promises';
import { listKeys } from '../../signing/key-store.js';
import {
  activePublisherInfo,
  importPublisher,
  type PublisherInfo,
  type PublisherSource,
} from '../../signing/publisher-import.js';
import { isTopRole } from '../../signing/roles.js';
import { rotateKey } from '../../signing/rotate.js';
import { audit } from '../../storage/catalog-repo.js';
import { localActor, withSite, output } from '../context.js';

export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description('the signing keys of the site: TUF roles and the publisher certificate');

  keys
    .command('list')
    .description(
      'list the keys of every role (public facts only: role, key ID, type, created) and the ' +
        'publisher certificate (role "publisher": subject, SHA-1 thumbprint as key ID, expiry); ' +
        'warns when the publisher certificate expires within 30 days',
    )
    .option('--json', 'print the keys as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const list = await listKeys(site.config.dirs.signing);
        const shown: Array<Record<string, unknown> & { role: string; keyid: string }> = list.map(
          ({ role, keyid, kind, created }) => ({ role, keyid, kind, created }),
        );
        const publisher = await activePublisherInfo(site.config.dirs.signing);
        if (publisher !== undefined) shown.push(publisherEntry(publisher));
        output(opts.json, shown, () =>
          shown.length === 0
            ? 'no keys yet: run "upcat init"'
            : shown
                .map((k) =>
                  k.role === 'publisher' && publisher !== undefined
                    ? publisherLine(publisher)
                    : `${k.role.padEnd(10)} ${String(k.kind).padEnd(11)} ${k.keyid}  ${String(k.created)}`,
                )
                .join('\n'),
        );
        if (publisher?.warning !== undefined)
          process.stderr.write(`warning: ${publisher.warning}\n`);
      });
    });

  keys
    .command('import-publisher')
    .description(
      "use the organization's code-signing certificate for payload CMS signatures and " +
        'Authenticode from now on (RSA 2048 bits or more; ECDSA is not supported: node-forge ' +
        'signs RSA only); checked for codeSigning usage, validity and a matching key first',
    )
    .option('--pfx <file>', 'a PKCS#12 (.pfx/.p12) file holding the certificate, its key and chain')
    .option('--password-file <file>', 'the PFX password, in a file (first line)')
    .option('--password-env <var>', 'the PFX password, in this environment variable')
    .option('--cert <pem>', 'the certificate, PEM (instead of --pfx)')
    .option('--key <pem>', 'its private key, PEM, unencrypted (with --cert)')
    .option('--chain <pem>', 'intermediate CA certificates, PEM (with --cert)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: ImportOptions, cmd: Command) => {
      const source = await publisherSource(opts);
      await withSite(cmd, async (site) => {
        const info = await importPublisher(site.config.dirs.signing, source);
        const audited = await audit(site.db, {
          actor: localActor(),
          action: 'keys.import-publisher',
          target: info.thumbprintSha1,
          detail: { subject: info.subject, notAfter: info.notAfter },
        }).then(
          () => undefined,
          (err: unknown) => (err instanceof Error ? err.message : String(err)),
        );
        output(opts.json, info, () =>
          [
            `imported publisher ${info.subject}`,
            `  issuer ${info.issuer}`,
            `  SHA-1 thumbprint ${info.thumbprintSha1}, expires ${info.notAfter}`,
            '  payload CMS signatures and Authenticode use it from now on (restart a running "upcat serve")',
          ].join('\n'),
        );
        if (info.warning !== undefined) process.stderr.write(`warning: ${info.warning}\n`);
        if (audited !== undefined)
          throw new UpcatError(
            'internal',
            `keys import-publisher: the certificate was imported, but its audit row was not written: ${audited}`,
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
          const result = await rotateKey(site.config.dirs.signing, site.metadata, role, {
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

interface ImportOptions {
  pfx?: string;
  passwordFile?: string;
  passwordEnv?: string;
  cert?: string;
  key?: string;
  chain?: string;
  json?: boolean;
}

const MAX_FILE_BYTES = 1024 * 1024;

/** Reads the inputs named on the command line; a missing or huge file is one line naming it. */
async function publisherSource(opts: ImportOptions): Promise<PublisherSource> {
  if (opts.pfx !== undefined) {
    if (opts.cert !== undefined || opts.key !== undefined || opts.chain !== undefined)
      throw invalidInput('--pfx: give either --pfx or --cert and --key, not both');
    if (opts.passwordFile !== undefined && opts.passwordEnv !== undefined)
      throw invalidInput('--password-file and --password-env: give one of them');
    let password = '';
    if (opts.passwordFile !== undefined) {
      password = (await readInput(opts.passwordFile, '--password-file')).toString('utf8');
      password = password.split(/\r?\n/)[0] ?? '';
    } else if (opts.passwordEnv !== undefined) {
      const value = process.env[opts.passwordEnv];
      if (value === undefined)
        throw invalidInput(`--password-env: the variable ${opts.passwordEnv} is not set`);
      password = value;
    }
    return { pfx: await readInput(opts.pfx, '--pfx'), password };
  }
  if (opts.cert === undefined || opts.key === undefined)
    throw invalidInput('give --pfx FILE, or --cert PEM and --key PEM');
  if (opts.passwordFile !== undefined || opts.passwordEnv !== undefined)
    throw invalidInput(
      '--password-file/--password-env go with --pfx (the PEM key must be unencrypted)',
    );
  return {
    certificatePem: (await readInput(opts.cert, '--cert')).toString('utf8'),
    privateKeyPem: (await readInput(opts.key, '--key')).toString('utf8'),
    chainPem:
      opts.chain === undefined
        ? undefined
        : (await readInput(opts.chain, '--chain')).toString('utf8'),
  };
}

async function readInput(file: string, flag: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    throw invalidInput(
      `${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (data.length > MAX_FILE_BYTES) throw invalidInput(`${flag}: ${file} is larger than 1 MiB`);
  return data;
}

function publisherEntry(
  p: PublisherInfo,
): Record<string, unknown> & { role: string; keyid: string } {
  return {
    role: 'publisher',
    keyid: p.thumbprintSha1,
    kind: `rsa-${p.keyBits}-x509`,
    created: p.notBefore,
    source: p.source,
    subject: p.subject,
    issuer: p.issuer,
    expires: p.notAfter,
    daysLeft: p.daysLeft,
    ...(p.warning === undefined ? {} : { warning: p.warning }),
  };
}

function publisherLine(p: PublisherInfo): string {
  return `publisher  ${p.source.padEnd(11)} ${p.thumbprintSha1}  ${p.subject}, expires ${p.notAfter}`;
}
