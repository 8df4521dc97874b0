import type { Command } from 'commander';
import type { GroupDetail, GroupRemoval, GroupView, MemberView } from '../../site/groups.js';
import type { GroupWindowView } from '../../site/maintenance-window-store.js';
import { localActor, output } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';
import { allPages } from '../remote-pages.js';
import { table } from './table.js';
import { registerGroupWindows } from './rollouts-windows.js';

type Opts = RemoteOptions & { json?: boolean };

const path = (group: string): string => `/v1/groups/${encodeURIComponent(group)}`;

/**
 * `upcat groups list|show|create|rename|delete|add-client|remove-client` (issues 5 item 7, 14
 * item 3), on the local site or with `--server URL --token T` through `/v1/groups`. Clients are
 * named by ID, a unique prefix of it, or their name.
 */
export function registerGroups(program: Command): void {
  const groups = program.command('groups').description('computer target groups (rings)');
  registerGroupWindows(groups); // maintenance windows (issue 14 item 6)
  const sub = (name: string, description: string): Command =>
    remoteOptions(groups.command(name).description(description).option('--json', 'print JSON'));

  sub('list', 'every group with its member count').action(async (opts: Opts, cmd: Command) => {
    const list = await localOrRemote(
      cmd,
      opts,
      (site) => site.groups.list(),
      (remote) => allPages<GroupView>(remote, '/v1/groups', 'groups'),
    );
    output(opts.json, list, () =>
      table(
        ['GROUP', 'BUILTIN', 'MEMBERS'],
        list.map((g) => [g.name, g.builtin ? 'yes' : 'no', g.members]),
      ),
    );
  });

  sub('show', 'a group: its member count, deployments and members')
    .argument('<group>', 'the group name')
    .action(async (group: string, opts: Opts, cmd: Command) => {
      const g = await localOrRemote(
        cmd,
        opts,
        // The window too, as GET /v1/groups/:name answers it (issue 14 item 6).
        async (site) => ({
          ...(await site.groups.showAll(group)),
          maintenanceWindow: await site.maintenanceWindows.get(group),
        }),
        async (remote) => {
          // The group's own fields from one small page, then every member page by page.
          const head = await remote.getJson<
            GroupDetail & { maintenanceWindow: GroupWindowView | null }
          >(path(group), { limit: 1 });
          const clients = await allPages<MemberView>(remote, path(group), 'clients');
          return { ...head, clients, next: null };
        },
      );
      output(opts.json, g, () =>
        [
          `group "${g.name}"${g.builtin ? ' (builtin)' : ''}: ${g.members} member(s), ${g.deployments} deployment(s)`,
          ...(g.maintenanceWindow === null
            ? []
            : [
                `maintenance windows (${g.maintenanceWindow.timezone}): ${g.maintenanceWindow.windows
                  .map((w) => `${w.days.join(',')} ${w.start} ${w.duration}`)
                  .join('; ')}`,
              ]),
          ...(g.clients.length === 0
            ? []
            : [
                table(
                  ['CLIENT', 'NAME', 'STATUS', 'BLOCKED', 'LAST CONTACT'],
                  g.clients.map((c) => [
                    c.clientId,
                    c.name,
                    c.status,
                    c.blocked ? 'yes' : 'no',
                    c.lastContact ?? 'never',
                  ]),
                ),
              ]),
        ].join('\n'),
      );
    });

  sub('create', 'create a named group')
    .argument('<name>', 'the group name')
    .action(async (name: string, opts: Opts, cmd: Command) => {
      const g = await localOrRemote(
        cmd,
        opts,
        (site) => site.groups.create(name, localActor()),
        (remote) => remote.postJson<GroupView>('/v1/groups', { name }),
      );
      output(opts.json, g, () => `created group "${g.name}"`);
    });

  sub('rename', 'rename a named group')
    .argument('<group>', 'the group name')
    .argument('<newName>', 'its new name')
    .action(async (group: string, newName: string, opts: Opts, cmd: Command) => {
      const g = await localOrRemote(
        cmd,
        opts,
        (site) => site.groups.rename(group, newName, localActor()),
        (remote) => remote.request<GroupView>('PATCH', path(group), { json: { name: newName } }),
      );
      output(opts.json, g, () => `renamed group "${group}" to "${g.name}"`);
    });

  sub(
    'delete',
    'delete a named group (its members leave it); refused while it has deployments, unless --force',
  )
    .argument('<group>', 'the group name')
    .option('--force', "also remove the group's deployments (moves the catalog version)")
    .action(async (group: string, opts: Opts & { force?: boolean }, cmd: Command) => {
      const force = opts.force === true;
      const r = await localOrRemote(
        cmd,
        opts,
        (site) => site.groups.remove(group, localActor(), { force }),
        (remote) =>
          remote.request<GroupRemoval>('DELETE', path(group), {
            query: { force: force ? 'true' : undefined },
          }),
      );
      output(
        opts.json,
        r,
        () =>
          `deleted group "${r.name}" (${r.removedMembers} member(s) left it${
            r.removedDeployments > 0 ? `, ${r.removedDeployments} deployment(s) removed` : ''
          })`,
      );
    });

  sub('add-client', 'server-side assignment: put clients in a group')
    .argument('<group>', 'the group name')
    .argument('<clients...>', 'each a client ID, a unique start of one, or a client name')
    .action(async (group: string, clients: string[], opts: Opts, cmd: Command) => {
      const added = await localOrRemote(
        cmd,
        opts,
        (site) => site.groups.addClients(group, clients, localActor()),
        async (remote) =>
          (
            await remote.postJson<{ clients: Array<{ clientId: string; added: boolean }> }>(
              `${path(group)}/members`,
              { clientIds: clients },
            )
          ).clients,
      );
      output(opts.json, { group, clients: added }, () =>
        added
          .map((c) =>
            c.added
              ? `client ${c.clientId} is in group "${group}"`
              : `client ${c.clientId} was already in group "${group}"`,
          )
          .join('\n'),
      );
    });

  sub('remove-client', 'take a client out of a group')
    .argument('<group>', 'the group name')
    .argument('<client>', 'a client ID, a unique start of one, or a client name')
    .action(async (group: string, client: string, opts: Opts, cmd: Command) => {
      const r = await localOrRemote(
        cmd,
        opts,
        (site) => site.groups.removeClient(group, client, localActor()),
        (remote) =>
          remote.request<{ group: string; clientId: string }>(
            'DELETE',
            `${path(group)}/members/${encodeURIComponent(client)}`,
          ),
      );
      output(opts.json, r, () => `client ${r.clientId} left group "${r.group}"`);
    });
}
