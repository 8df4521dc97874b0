import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { errnoCode, invalidInput } from '../../errors.js';
import { CHUNK_BYTES } from '../../storage/blobs/pool.js';
import { localActor, withSite, output } from '../context.js';
import { progressReporter } from '../progress.js';
import { readManifestFile } from '../read-manifest.js';
import { sdpReportJson, sdpReportLines, type SdpImport } from '../../publish/sdp/index.js';
import { publishAnswer, type PublishAnswer } from '../../publish/publish-service.js';
import { configSchema } from '../../config/schema.js';
import { remoteOf, remoteOptions, type RemoteOptions } from '../remote.js';
import { uploadPublish } from '../upload.js';

/** Without a site home, the manifest limit is the configuration's default. */
const DEFAULT_MAX_MANIFEST_BYTES = configSchema.parse({}).limits.maxManifestBytes;

interface PublishOptions extends RemoteOptions {
  manifest: string;
  json?: boolean;
  quiet?: boolean;
}

export function registerPublish(program: Command): void {
  const cmd = program
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
      'the publish manifest (docs/MANIFEST.md), or a SoftwareDistributionPackage (SDP) to import',
    )
    .option('--json', 'print {"updateId","revision","catalogVersion","sha256","sha1","size"}')
    .option(
      '--quiet',
      'no progress output (otherwise on stderr: a bar on a terminal, a line every 10% in logs)',
    );
  remoteOptions(cmd).action(async (file: string, opts: PublishOptions, command: Command) => {
    const info = await statPayload(file);
    // --json keeps stdout for the result; progress is on stderr, so CI logs (stderr not a
    // terminal) still get a line every 10%. Only a terminal's redrawn bar is left out.
    const showProgress =
      opts.quiet !== true && (opts.json !== true || process.stderr.isTTY !== true);
    const remote = remoteOf(opts);
    if (remote !== undefined) {
      // A remote publish needs no site home: the manifest is read (an SDP converted) here and
      // checked again by the server, which has its own limits.
      const { manifest, sdp } = await readManifestFile(opts.manifest, DEFAULT_MAX_MANIFEST_BYTES);
      const result = await uploadPublish({
        server: remote.base,
        token: opts.token ?? process.env['UPCAT_TOKEN'] ?? '',
        file,
        fileName: path.basename(file),
        size: info.size,
        manifest,
        progress: showProgress,
      });
      printResult(opts.json, result, sdp);
      return;
    }
    await withSite(command, async (site) => {
      const { manifest, sdp } = await readManifestFile(
        opts.manifest,
        site.config.limits.maxManifestBytes,
      );
      const progress = progressReporter('publishing', showProgress);
      const source = counted(createReadStream(file, { highWaterMark: CHUNK_BYTES }), (done) =>
        progress(done, info.size),
      );
      const result = await site.publish.publish({
        source,
        fileName: path.basename(file),
        manifest,
        actor: localActor(),
      });
      printResult(opts.json, { ...publishAnswer(result), created: result.created }, sdp);
    });
  });
}

/** The same lines and JSON for a local and a remote publish. */
function printResult(
  json: boolean | undefined,
  result: PublishAnswer & { created: boolean },
  sdp: SdpImport | undefined,
): void {
  const printed = {
    ...publishAnswer(result),
    // Only for an SDP manifest: what it could not carry over (issue 4, item 5).
    ...(sdp === undefined ? {} : { sdp: sdpReportJson(sdp) }),
  };
  output(json, printed, () =>
    [
      result.created
        ? `published update ${result.updateId} revision ${result.revision} (catalog version ${result.catalogVersion}, sha256 ${result.sha256})`
        : `already published: update ${result.updateId} revision ${result.revision} (catalog version ${result.catalogVersion})`,
      ...(sdp === undefined ? [] : sdpReportLines(sdp)),
    ].join('\n'),
  );
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
