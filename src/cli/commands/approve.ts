import { Option, type Command } from '../commander.js';
import { UpcatError } from '../../errors.js';
import type { DeploymentView } from '../../site/deployments.js';
import { ACTIONS } from '../../site/vocabulary.js';
import { localActor, output } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';

/**
 * `upcat approve <updateId> --group G --action A [--deadline ISO] [--percent N]` (issue 5 item 7);
 * with `--server URL --token T`, through `POST /v1/deployments` (issue 7).
 */
export function registerApprove(program: Command): void {
  const cmd = program
    .command('approve')
    .description('deploy an update to a group (moves the catalog version)')
    .argument('<updateId>', 'the update to deploy')
    .requiredOption('--group <name>', 'the target group')
    .addOption(
      new Option('--action <action>', 'what clients do')
        .choices([...ACTIONS])
        .makeOptionMandatory(),
    )
    .option(
      '--deadline <iso>',
      'install by this ISO-8601 date (2030-01-01: midnight UTC) or date and time with a zone (2030-01-01T08:00Z)',
    )
    .option('--percent <n>', 'roll out to this percentage of the group (1-100)')
    .option('--json', 'print JSON');
  remoteOptions(cmd).action(
    async (
      updateId: string,
      opts: RemoteOptions & {
        group: string;
        action: string;
        deadline?: string;
        percent?: string;
        json?: boolean;
      },
      command: Command,
    ) => {
      const input = {
        updateId,
        group: opts.group,
        action: opts.action,
        deadline: opts.deadline,
        percent: percentOf(opts.percent),
      };
      const d = await localOrRemote(
        command,
        opts,
        (site) => site.deployments.approve(input, localActor()),
        (remote) => remote.postJson<DeploymentView>('/v1/deployments', input),
      );
      output(
        opts.json,
        d,
        () =>
          `approved ${d.updateId} for ${d.action} to "${d.group}"${d.percent < 100 ? ` (${d.percent}%)` : ''}${
            d.deadline === null ? '' : `, deadline ${d.deadline}`
          } (catalog version ${d.catalogVersion})`,
      );
    },
  );
}

/** `--percent`: a whole number from 1 to 100, or undefined when not given. */
export function percentOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const percent = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (Number.isNaN(percent))
    throw new UpcatError('invalid_input', '--percent: must be a whole number from 1 to 100');
  return percent;
}
