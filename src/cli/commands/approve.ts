import { Option, type Command } from 'commander';
import { UpcatError } from '../../errors.js';
import { ACTIONS } from '../../site/deployments.js';
import { output, withSite } from '../context.js';

/** `upcat approve <updateId> --group G --action A [--deadline ISO] [--percent N]` (issue 5 item 7). */
export function registerApprove(program: Command): void {
  program
    .command('approve')
    .description('deploy an update to a group (moves the catalog version)')
    .argument('<updateId>', 'the update to deploy')
    .requiredOption('--group <name>', 'the target group')
    .addOption(
      new Option('--action <action>', 'what clients do')
        .choices([...ACTIONS])
        .makeOptionMandatory(),
    )
    .option('--deadline <iso>', 'install by this ISO-8601 date and time')
    .option('--percent <n>', 'roll out to this percentage of the group (1-100)')
    .option('--json', 'print JSON')
    .action(
      async (
        updateId: string,
        opts: {
          group: string;
          action: string;
          deadline?: string;
          percent?: string;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        let percent: number | undefined;
        if (opts.percent !== undefined) {
          percent = /^\d{1,3}$/.test(opts.percent) ? Number(opts.percent) : NaN;
          if (Number.isNaN(percent))
            throw new UpcatError(
              'invalid_input',
              '--percent: must be a whole number from 1 to 100',
            );
        }
        await withSite(cmd, async (site) => {
          const d = await site.deployments.approve(
            { updateId, group: opts.group, action: opts.action, deadline: opts.deadline, percent },
            `cli:${process.env['USER'] ?? 'local'}`,
          );
          output(
            opts.json,
            d,
            () =>
              `approved ${d.updateId} for ${d.action} to "${d.group}"${d.percent < 100 ? ` (${d.percent}%)` : ''}${
                d.deadline === null ? '' : `, deadline ${d.deadline}`
              } (catalog version ${d.catalogVersion})`,
          );
        });
      },
    );
}
