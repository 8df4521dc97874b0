import path from 'node:path';
import type { Command } from 'commander';
import type { Site } from '../../app.js';
import { invalidInput, UpcatError } from '../../errors.js';
import {
  DEFAULT_FETCH,
  importCatalogFile,
  importCatalogFrom,
  type CatalogImportOptions,
  type CatalogImportResult,
  type PackageOutcome,
} from '../../publish/sdp/index.js';
import { isCabinet, openCatalogCab } from '../../publish/sdp/catalog-cab.js';
import { localActor, output, withSite } from '../context.js';

interface ImportOptions {
  dryRun?: boolean;
  json?: boolean;
  payloads?: string;
  fetch?: boolean;
  metadataOnly?: boolean;
  fetchTimeout?: string;
  batchSize?: string;
  trust?: string[];
}

/** `upcat import-catalog` (issue 4 item 5, issue 11 items 1-4): a vendor's SystemsManagementCatalog. */
export function registerImportCatalog(program: Command): void {
  program
    .command('import-catalog')
    .description(
      'import a vendor catalog (SystemsManagementCatalog of SDPs) as the vendor wrote it; payloads are ' +
        "published only when their SHA-1 and size equal the catalog's. Exits non-zero when any package fails.",
    )
    .argument(
      '<catalog>',
      'the SystemsManagementCatalog document (.xml), or a signed cabinet holding it (.cab)',
    )
    .option(
      '--trust <cert>',
      'a certificate (PEM or DER) trusted to sign catalog cabinets; repeat for several. A .cab whose Authenticode signature does not chain to one is refused',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      '--dry-run',
      'store nothing: run every step (payload digests included) in a transaction that is rolled back, ' +
        'and report what a real run with the same options would do (without --payloads or --fetch: as --metadata-only)',
    )
    .option('--payloads <dir>', "folder holding the packages' files, by OriginFile name")
    .option(
      '--fetch',
      "download each payload from its OriginUri (streamed, at most the catalog's Size, resumed with Range)",
    )
    .option(
      '--metadata-only',
      'publish packages whose payload is not at hand without it, awaiting content: never offered to ' +
        'endpoints until "upcat content add" (or a later import) brings a matching payload',
    )
    .option(
      '--fetch-timeout <seconds>',
      'time limit per downloaded payload',
      String(DEFAULT_FETCH.timeoutMs / 1000),
    )
    .option('--batch-size <n>', 'packages stored per transaction', '200')
    .option('--json', 'print {"dryRun","summary","packages":[...]}')
    .action(async (file: string, opts: ImportOptions, cmd: Command) => {
      const dryRun = opts.dryRun === true;
      const hasSource = opts.payloads !== undefined || opts.fetch === true;
      if (!dryRun && !hasSource && opts.metadataOnly !== true) {
        throw invalidInput(
          'import-catalog: give --payloads <dir>, --fetch or --metadata-only (or --dry-run to check)',
        );
      }
      const batchSize = positive(opts.batchSize ?? '200', '--batch-size');
      const timeoutMs = positive(opts.fetchTimeout ?? '1800', '--fetch-timeout') * 1000;
      const optionsFor = (site: Site): CatalogImportOptions => {
        const options: CatalogImportOptions = {
          dryRun,
          metadataOnly: opts.metadataOnly === true || !hasSource,
          site: { ...site, limits: site.config.limits, log: site.log },
          actor: localActor(),
          batchSize,
          ...(opts.payloads === undefined ? {} : { payloadDir: opts.payloads }),
          ...(opts.fetch === true
            ? {
                fetch: {
                  dir: path.join(site.config.dirs.packages, 'fetch'),
                  timeoutMs,
                  attempts: DEFAULT_FETCH.attempts,
                },
              }
            : {}),
        };
        return options;
      };
      // A cabinet is verified (Authenticode, --trust) before anything is read or the site opened.
      const cab = (await isCabinet(file))
        ? await openCatalogCab(file, opts.trust ?? [])
        : undefined;
      const result = await withSite(cmd, (site) => {
        const options = optionsFor(site);
        return cab === undefined
          ? importCatalogFile(file, options, `catalog ${file}`)
          : importCatalogFrom(cab.source, options, `catalog ${file} (${cab.entry})`);
      });
      const signed = cab === undefined ? {} : { signer: cab.signer };
      output(opts.json, { ...result, ...signed }, () =>
        [
          ...(cab === undefined
            ? []
            : [
                `catalog cabinet signed by ${cab.signer.subject} (SHA-1 ${cab.signer.thumbprintSha1}), trusted`,
              ]),
          human(result),
        ].join('\n'),
      );
      const bad = result.summary.failed + result.summary.invalid;
      if (bad > 0) {
        throw new UpcatError(
          'invalid_input',
          `import-catalog: ${bad} of ${result.summary.packages} package(s) ${dryRun ? 'would fail' : 'failed'} (see the summary)`,
        );
      }
    });
}

function positive(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw invalidInput(`${name}: "${value}" is not a positive integer`);
  return n;
}

function human(result: CatalogImportResult): string {
  const s = result.summary;
  const lines = result.packages.map(packageLine);
  lines.push(
    `${s.packages} package(s): ${s.mapped} mapped, ${s.invalid} invalid, ${s.published} published, ` +
      `${s.awaitingContent} awaiting content, ${s.unchanged} unchanged, ${s.failed} failed` +
      (result.dryRun ? ' (dry run: nothing stored)' : ''),
  );
  const names = Object.entries(s.unmappedByName).map(([n, c]) => `${n} x${c}`);
  if (names.length > 0) lines.push(`not mapped: ${names.join(', ')}`);
  const rules = Object.entries(s.unsupportedRulesByName).map(([n, c]) => `${n} x${c}`);
  if (rules.length > 0)
    lines.push(`rules kept verbatim (evaluate to unknown): ${rules.join(', ')}`);
  return lines.join('\n');
}

function packageLine(p: PackageOutcome): string {
  const head = `${p.status.padEnd(16)} ${p.packageId ?? '?'} ${p.title ?? '(no title)'}`;
  const parts: string[] = [];
  if (p.revision !== undefined) parts.push(`revision ${p.revision}`);
  if (p.version !== null) parts.push(`version ${p.version} from ${p.versionSource ?? '?'}`);
  if (p.message !== undefined) parts.push(p.message);
  const unmapped = [...new Set(p.unmapped.map((u) => u.name))];
  if (unmapped.length > 0) parts.push(`not mapped: ${unmapped.join(', ')}`);
  const rules = [...new Set(p.unsupportedRules.map((u) => u.name))];
  if (rules.length > 0) parts.push(`rules kept verbatim: ${rules.join(', ')}`);
  return parts.length === 0 ? head : `${head}: ${parts.join('; ')}`;
}
