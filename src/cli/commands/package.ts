import type { Command } from 'commander';
import path from 'node:path';
import { buildPackage } from '../../publish/package.js';
import { output } from '../context.js';
import { formatBytes, progressReporter } from '../progress.js';

export function registerPackage(program: Command): void {
  program
    .command('package')
    .description(
      'archive a client build directory into a deterministic zip with a manifest of digests',
    )
    .argument('<dir>', 'the client build directory')
    .requiredOption('--name <name>', 'product name, e.g. "Contoso Client"')
    .requiredOption('--version <version>', 'build version, e.g. 5.0.1')
    .option(
      '--out <file>',
      'where to write the package (default: packages/builds/<name>-<version>.zip)',
    )
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress output')
    .action(
      async (
        dir: string,
        opts: { name: string; version: string; out?: string; json?: boolean; quiet?: boolean },
      ) => {
        const out =
          opts.out ?? path.join('packages', 'builds', `${slug(opts.name)}-${opts.version}.zip`);
        const built = await buildPackage({
          dir,
          name: opts.name,
          version: opts.version,
          out,
          onProgress: progressReporter('packaging', opts.json !== true && opts.quiet !== true),
        });
        output(
          opts.json,
          built,
          () =>
            `packaged ${built.fileCount} file${built.fileCount === 1 ? '' : 's'} into ${built.path} (${formatBytes(built.size)}, sha256 ${built.sha256})`,
        );
      },
    );
}

function slug(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9.]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'package'
  );
}
