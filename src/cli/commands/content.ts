import path from 'node:path';
import type { Command } from 'commander';
import { invalidInput } from '../../errors.js';
import { DEFAULT_FETCH } from '../../publish/sdp/index.js';
import { addContent } from '../../publish/sdp/content-service.js';
import { localActor, output, withSite } from '../context.js';

interface AddOptions {
  fetch?: boolean;
  fetchTimeout?: string;
  json?: boolean;
}

/** `upcat content add` (issue 11 item 3): the payload of a vendor package imported awaiting content. */
export function registerContent(program: Command): void {
  const content = program
    .command('content')
    .description('payloads of vendor packages imported with import-catalog --metadata-only');
  content
    .command('add')
    .description(
      "publish the payload of an update awaiting content; refused unless its SHA-1 and size equal the vendor catalog's",
    )
    .argument('<updateId>', 'the update (the vendor package ID)')
    .argument('[file]', 'the payload file (or --fetch)')
    .option(
      '--fetch',
      "download it from the catalog's OriginUri instead (streamed, size-limited, resumed with Range)",
    )
    .option(
      '--fetch-timeout <seconds>',
      'time limit for the download',
      String(DEFAULT_FETCH.timeoutMs / 1000),
    )
    .option(
      '--json',
      'print {"updateId","revision","created","catalogVersion","sha1","sha256","size"}',
    )
    .action(async (updateId: string, file: string | undefined, opts: AddOptions, cmd: Command) => {
      if ((file === undefined) === (opts.fetch !== true)) {
        throw invalidInput('content add: give either a FILE or --fetch');
      }
      const seconds = Number(opts.fetchTimeout ?? '1800');
      if (!Number.isInteger(seconds) || seconds < 1) {
        throw invalidInput(
          `--fetch-timeout: "${opts.fetchTimeout ?? ''}" is not a positive integer`,
        );
      }
      const result = await withSite(cmd, (site) =>
        addContent(
          { ...site, limits: site.config.limits },
          updateId,
          file !== undefined
            ? { file }
            : {
                fetch: {
                  dir: path.join(site.config.dirs.packages, 'fetch'),
                  timeoutMs: seconds * 1000,
                  attempts: DEFAULT_FETCH.attempts,
                },
              },
          localActor(),
        ),
      );
      output(opts.json, result, () =>
        result.created
          ? `update ${result.updateId} revision ${result.revision}: content added (SHA-1 ${result.sha1}, ${result.size} bytes), catalog version ${result.catalogVersion}`
          : `update ${result.updateId} revision ${result.revision} already has this content`,
      );
    });
}
