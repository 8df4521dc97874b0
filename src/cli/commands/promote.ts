import type { Command } from 'commander';
import { UpcatError } from '../../errors.js';
import type { PromotionView } from '../../site/promote.js';
import { DEFAULT_MIN_SUCCESS, percentShown } from '../../site/vocabulary.js';
import { localActor, output } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';
import { percentOf } from './approve.js';

/**
 * `upcat promote <updateId> --from G --to G [--min-success 95] [--percent N]` (issue 7): copies
 * a deployment to the next ring once the first shows the update installs.
 */
export function registerPromote(program: Command): void {
  const cmd = program
    .command('promote')
    .description(
      "copy an update's deployment from one group (ring) to another, if it installs well enough there",
    )
    .argument('<updateId>', 'the update to promote')
    .requiredOption('--from <group>', 'the group it is deployed to and reported from')
    .requiredOption('--to <group>', 'the group to deploy it to next')
    .option(
      '--min-success <percent>',
      'least installed / (installed + failed) in --from, in percent',
      String(DEFAULT_MIN_SUCCESS),
    )
    .option(
      '--min-reporting <n>',
      'least clients in --from that reported installed or failed (default 1)',
    )
    .option('--percent <n>', 'roll out to this percentage of --to (default 100)')
    .option('--json', 'print JSON');
  remoteOptions(cmd).action(
    async (
      updateId: string,
      opts: RemoteOptions & {
        from: string;
        to: string;
        minSuccess: string;
        percent?: string;
        minReporting?: string;
        json?: boolean;
      },
      command: Command,
    ) => {
      const minSuccess = /^\d{1,3}(\.\d{1,3})?$/.test(opts.minSuccess)
        ? Number(opts.minSuccess)
        : NaN;
      if (Number.isNaN(minSuccess) || minSuccess > 100)
        throw new UpcatError('invalid_input', '--min-success: must be a percentage from 0 to 100');
      const input = {
        updateId,
        from: opts.from,
        to: opts.to,
        minSuccess,
        percent: percentOf(opts.percent),
        ...(opts.minReporting === undefined ? {} : { minReporting: countOf(opts.minReporting) }),
      };
      const p = await localOrRemote(
        command,
        opts,
        (site) => site.promotions.promote(input, localActor()),
        (remote) => remote.postJson<PromotionView>('/v1/promotions', input),
      );
      const e = p.evidence;
      output(
        opts.json,
        p,
        () =>
          `promoted ${p.updateId} from "${p.from}" to "${p.group}" for ${p.action}${p.percent < 100 ? ` (${p.percent}%)` : ''}${
            p.deadline === null ? '' : `, deadline ${p.deadline}`
          }: ${percentShown(e.successRate, e.minSuccess)}% installed (${e.installed} of ${e.reporting} reporting) in "${p.from}" (catalog version ${p.catalogVersion})`,
      );
    },
  );
}

/** `--min-reporting`: a whole number of clients, 1 or more. */
function countOf(text: string): number {
  if (!/^\d{1,7}$/.test(text) || Number(text) < 1)
    throw new UpcatError('invalid_input', '--min-reporting: must be a whole number, 1 or more');
  return Number(text);
}
