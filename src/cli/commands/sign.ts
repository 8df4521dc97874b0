import type { Command } from 'commander';
import { UpcatError } from '../../errors.js';
import { signFile, siteAuthenticodeSigner } from '../../windows/authenticode/sign-file.js';
import { output, withSite } from '../context.js';

/**
 * `upcat sign FILE --out OUT`: Authenticode-signs a cabinet, PE image or MSI package with the
 * site's publisher certificate (the site CA's, or the one `upcat keys import-publisher` took),
 * as the catalog CAB is signed, so payloads published for Windows endpoints can be signed too.
 */
export function registerSign(program: Command): void {
  program
    .command('sign')
    .description(
      "Authenticode-sign a .cab, PE image (.exe/.dll/.sys) or .msi with the site's publisher certificate",
    )
    .argument('<file>', 'the file to sign (its kind is read from its first bytes)')
    .requiredOption('--out <file>', 'write the signed file here (must not exist)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: { out: string; json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        if (site.signing === undefined)
          throw new UpcatError(
            'invalid_config',
            'this site has no publisher yet (run "upcat init")',
          );
        const result = await signFile(file, opts.out, siteAuthenticodeSigner(site.signing));
        const value = {
          input: file,
          output: opts.out,
          kind: result.kind,
          size: result.size,
          digest: result.digest.toString('hex'),
          publisher: result.subject,
          thumbprint: result.thumbprint,
        };
        output(opts.json, value, () =>
          [
            `signed ${file} (${result.kind}) into ${opts.out}, ${result.size} bytes`,
            `  Authenticode digest (SHA-256): ${value.digest}`,
            `  publisher: ${result.subject} (thumbprint ${result.thumbprint})`,
          ].join('\n'),
        );
      });
    });
}
