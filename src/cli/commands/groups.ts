import type { Command } from 'commander';
import { localActor, output, withSite } from '../context.js';
import { table } from './table.js';

/** `upcat groups create|list|add-client` (issue 5 item 7). */
export function registerGroups(program: Command): void {
  const groups = program.command('groups').description('computer target groups (rings)');

  groups
    .command('create')
    .description('create a named group')
    .argument('<name>', 'the group name')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const g = await site.groups.create(name, localActor());
        output(opts.json, g, () => `created group "${g.name}"`);
      });
    });

  groups
    .command('list')
    .description('every group with its member count')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const list = await site.groups.list();
        output(opts.json, list, () =>
          table(
            ['GROUP', 'BUILTIN', 'MEMBERS'],
            list.map((g) => [g.name, g.builtin ? 'yes' : 'no', g.members]),
          ),
        );
      });
    });

  groups
    .command('add-client')
    .description('server-side assignment: put a client in a group')
    .argument('<group>', 'the group name')
    .argument('<clientId>', 'the client record')
    .option('--json', 'print JSON')
    .action(async (group: string, clientId: string, opts: { json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const r = await site.groups.addClient(group, clientId, localActor());
        output(opts.json, r, () => `client ${r.clientId} is in group "${r.group}"`);
      });
    });
}
