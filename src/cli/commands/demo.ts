import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initSite, openSite } from '../../app.js';
import { buildPackage } from '../../publish/package.js';
import { globalOptions } from '../context.js';
import { serveUntilSignal, type ServeOptions } from './serve.js';

/** The sample client build and its manifest ship with the repository, under examples/. */
const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../examples');

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'quick start: init the site, package and publish the sample client build, then serve',
    )
    .option('--port <port>', 'TCP port (default from config: 8530)')
    .option('--host <host>', 'address to listen on')
    .option('--no-serve', 'stop after publishing')
    .action(async (opts: ServeOptions & { serve: boolean }, cmd: Command) => {
      const home = globalOptions(cmd).home;
      const { config } = await initSite({ home, logLevel: 'warn' });
      const manifest = JSON.parse(
        await readFile(path.join(EXAMPLES, 'contoso-client.manifest.json'), 'utf8'),
      ) as {
        product: string;
        version: string;
      };
      const built = await buildPackage({
        dir: path.join(EXAMPLES, 'contoso-client'),
        name: manifest.product,
        version: manifest.version,
        out: path.join(config.dirs.packages, 'builds', `contoso-client-${manifest.version}.zip`),
      });
      const site = await openSite({ home });
      const result = await site.publish.publish({
        source: createReadStream(built.path),
        fileName: path.basename(built.path),
        manifest,
        actor: 'demo',
      });
      process.stderr.write(
        `upcat: ${result.created ? 'published' : 'already published'} ${manifest.product} ${manifest.version} as update ${result.updateId} revision ${result.revision}\n` +
          `upcat: payload at /content/${result.sha256}\n`,
      );
      if (!opts.serve) {
        await site.close();
        return;
      }
      await serveUntilSignal(site, opts);
    });
}
