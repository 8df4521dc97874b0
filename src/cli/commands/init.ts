import type { Command } from 'commander';
import { initSite } from '../../app.js';
import { globalOptions, output } from '../context.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description(
      'create the site: config file, database, catalog/, signing/ and packages/ (safe to run twice)',
    )
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { config, createdConfig } = await initSite({
        home: globalOptions(cmd).home,
        logLevel: 'warn',
      });
      output(
        opts.json,
        { home: config.home, siteCode: config.site.code, createdConfig, dirs: config.dirs },
        () =>
          [
            `site ${config.site.code} ready in ${config.home}`,
            createdConfig ? '  wrote upcat.config.json' : '  kept the existing upcat.config.json',
            `  catalog:  ${config.dirs.catalog}`,
            `  signing:  ${config.dirs.signing}`,
            `  packages: ${config.dirs.packages}`,
          ].join('\n'),
      );
    });
}
