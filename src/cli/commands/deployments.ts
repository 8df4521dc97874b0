import { Option, type Command } from '../commander.js';
import { UpcatError } from '../../errors.js';
import type { DeploymentRemoval, DeploymentView } from '../../site/deployments.js';
import { ACTIONS } from '../../site/vocabulary.js';
import { localActor, output } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';
import { allPages } from '../remote-pages.js';
import { percentOf } from './approve.js';
import { table } from './table.js';

type Opts = RemoteOptions & { json?: boolean };

/**
 * `upcat deployments list|set|remove` (issue 14 item 3), on the local site or with
 * `--server URL --token T` through `/v1/deployments`. Deploying is `upcat approve`.
 */
export function registerDeployments(program: Command): void {
  const deployments = program
    .command('deployments')
    .description('deployments (approvals): list, change a deadline or percentage, remove');
  const sub = (name: string, description: string): Command =>
    remoteOptions(
      deployments.command(name).description(description).option('--json', 'print JSON'),
    );

  sub('list', 'every deployment, in ID order')
    .option('--group <name>', 'only deployments to this group')
    .option('--update <updateId>', 'only deployments of this update')
    .addOption(new Option('--action <action>', 'only this action').choices([...ACTIONS]))
    .action(
      async (opts: Opts & { group?: string; update?: string; action?: string }, cmd: Command) => {
        const query = { group: opts.group, updateId: opts.update, action: opts.action };
        const given = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined));
        // The server's own check of the filters, so a typo fails the same way locally and
        // remotely. Its validator (zod) is loaded only when there is a filter to check or a local
        // site to query: a plain `deployments list --server` starts without it (issue 16).
        const checked = async () => (await ids()).parseDeploymentQuery(given).filter;
        if (Object.keys(given).length > 0) await checked();
        const list = await localOrRemote(
          cmd,
          opts,
          async (site) => site.deployments.list(await checked()),
          (remote) => allPages<DeploymentView>(remote, '/v1/deployments', 'deployments', query),
        );
        output(opts.json, list, () =>
          list.length === 0
            ? 'no deployments'
            : table(
                ['ID', 'UPDATE', 'GROUP', 'ACTION', 'DEADLINE', 'PERCENT'],
                list.map((d) => [
                  d.id,
                  d.updateId,
                  d.group,
                  d.action,
                  d.deadline ?? '-',
                  `${d.percent}%`,
                ]),
              ),
        );
      },
    );

  sub('set', "change a deployment's deadline or rollout percentage (moves the catalog version)")
    .argument('<id>', 'the deployment ID (upcat deployments list)')
    .option(
      '--deadline <iso>',
      'install by this ISO-8601 date (2030-01-01: midnight UTC) or date and time with a zone; "none" clears it',
    )
    .option('--percentage <n>', 'roll out to this percentage of the group (1-100)')
    .option('--percent <n>', 'the same as --percentage')
    .action(
      async (
        idText: string,
        opts: Opts & { deadline?: string; percentage?: string; percent?: string },
        cmd: Command,
      ) => {
        const id = (await ids()).parseDeploymentId(idText);
        if (opts.percent !== undefined && opts.percentage !== undefined)
          throw new UpcatError('invalid_input', '--percentage: give it or --percent, not both');
        const percentage = percentOf(opts.percentage ?? opts.percent);
        const change = {
          ...(opts.deadline === undefined
            ? {}
            : { deadline: opts.deadline === 'none' ? null : opts.deadline }),
          ...(percentage === undefined ? {} : { percentage }),
        };
        const d = await localOrRemote(
          cmd,
          opts,
          (site) => site.deployments.change(id, change, localActor()),
          (remote) =>
            remote.request<DeploymentView>('PATCH', `/v1/deployments/${id}`, { json: change }),
        );
        output(
          opts.json,
          d,
          () =>
            `deployment ${d.id} (${d.updateId} to "${d.group}"): deadline ${d.deadline ?? 'none'}, ${d.percent}% (catalog version ${d.catalogVersion})`,
        );
      },
    );

  sub('remove', "remove a deployment: its update leaves the group's policy")
    .argument('<id>', 'the deployment ID (upcat deployments list)')
    .action(async (idText: string, opts: Opts, cmd: Command) => {
      const id = (await ids()).parseDeploymentId(idText);
      const r = await localOrRemote(
        cmd,
        opts,
        (site) => site.deployments.remove(id, localActor()),
        (remote) => remote.request<DeploymentRemoval>('DELETE', `/v1/deployments/${id}`),
      );
      output(
        opts.json,
        r,
        () =>
          `removed deployment ${r.id} (${r.updateId} to "${r.group}"; catalog version ${r.catalogVersion})`,
      );
    });
}

/** The deployment ID and query parsers, loaded by the actions that use them (they load zod). */
function ids(): Promise<typeof import('../../site/deployment-list.js')> {
  return import('../../site/deployment-list.js');
}
