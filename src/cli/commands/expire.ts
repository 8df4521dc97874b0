import type { Command } from 'commander';
import { withSite, output } from '../context.js';

export function registerExpire(program: Command): void {
  program
    .command('expire')
    .description('withdraw an update from the catalog (it leaves every client policy)')
    .argument('<updateId>', 'the update to expire')
    .option('--json', 'print the result as JSON')
    .action(async (updateId: string, opts: { json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const result = await site.expire.expire(updateId, `cli:${process.env['USER'] ?? 'local'}`);
        output(opts.json, result, () =>
          result.changed
            ? `expired update ${result.updateId} (catalog version ${result.catalogVersion})`
            : `update ${result.updateId} was already expired`,
        );
      });
    });
}
