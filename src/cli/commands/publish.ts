import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { errnoCode, invalidInput } from '../../errors.js';
import { CHUNK_BYTES } from '../../storage/blobs/pool.js';
import { withSite, output } from '../context.js';
import { progressReporter } from '../progress.js';
import { readManifestFile } from '../read-manifest.js';
import { sdpReportJson, sdpReportLines } from '../../publish/sdp/index.js';

interface PublishOptions {
  manifest: string;
  json?: boolean;
  quiet?: boolean;
}

export function registerPublish(program: Command): void {
  program
    .command('publish')
    .description(
      'publish a client build (a package or any single file) as an update, or a new revision of one',
    )
    .argument(
      '<file>',
      'the payload: a package from "upcat package", or a file such as an .msi or .exe',
    )
    .requiredOption(
      '--manifest <manifest.json|package.sdp>',
      'the publish manifest (DESIGN.md §8), or a SoftwareDistributionPackage (SDP) to import',
    )
    .option('--json', 'print {"updateId","revision","catalogVersion","sha256","sha1","size"}')
    .option('--quiet', 'no progress output')
    .action(async (file: string, opts: PublishOptions, cmd: Command) => {
      const info = await statPayload(file);
      await withSite(cmd, async (site) => {
        const { manifest, sdp } = await readManifestFile(
          opts.manifest,
          site.config.limits.maxManifestBytes,
        );
        const progress = progressReporter('publishing', opts.json !== true && opts.quiet !== true);
        const source = counted(createReadStream(file, { highWaterMark: CHUNK_BYTES }), (done) =>
          progress(done, info.size),
        );
        const result = await site.publish.publish({
          source,
          fileName: path.basename(file),
          manifest,
          actor: `cli:${process.env['USER'] ?? 'local'}`,
        });
        const printed = {
          updateId: result.updateId,
          revision: result.revision,
          catalogVersion: result.catalogVersion,
          sha256: result.sha256,
          sha1: result.sha1,
          size: result.size,
          // Only for an SDP manifest: what it could not carry over (issue 4, item 5).
          ...(sdp === undefined ? {} : { sdp: sdpReportJson(sdp) }),
        };
        output(opts.json, printed, () =>
          [
            result.created
              ? `published update ${result.updateId} revision ${result.revision} (catalog version ${result.catalogVersion}, sha256 ${result.sha256})`
              : `already published: update ${result.updateId} revision ${result.revision} (catalog version ${result.catalogVersion})`,
            ...(sdp === undefined ? [] : sdpReportLines(sdp)),
          ].join('\n'),
        );
      });
    });
}

async function statPayload(file: string): Promise<{ size: number }> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw invalidInput(`payload ${file} is not a regular file`);
    return { size: s.size };
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw invalidInput(`payload ${file} does not exist`);
    throw err;
  }
}

/** Passes chunks through unchanged, reporting the running total (no extra stream stage). */
async function* counted(stream: Readable, onBytes: (done: number) => void): AsyncGenerator<Buffer> {
  let done = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    done += buf.length;
    onBytes(done);
    yield buf;
  }
}
