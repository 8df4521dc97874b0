import { Command } from 'commander';
import { UpcatError } from '../../errors.js';
import type { ClientView } from '../../site/client-admin.js';
import { channelsOf } from '../../site/channels.js';
import { localActor, output, withSite } from '../context.js';
import { table } from './table.js';

/** `upcat clients list|approve|block|unblock|conflicts|resolve` (issue 5 items 3-5, 10). */
export function registerClients(program: Command): void {
  const clients = program
    .command('clients')
    .description('list, approve, block and resolve client records');

  clients
    .command('list')
    .description('every client record with its status, blocked flag and groups')
    .option('--state <state>', 'only records in this state: active, conflict or obsolete')
    .option('--json', 'print JSON')
    .action(async (opts: { state?: string; json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const state = opts.state;
        if (
          state !== undefined &&
          state !== 'active' &&
          state !== 'conflict' &&
          state !== 'obsolete'
        ) {
          throw new UpcatError('invalid_input', '--state: must be active, conflict or obsolete');
        }
        const records = await site.clients.list(state === undefined ? {} : { recordState: state });
        // Which channel each client uses: upcat's agent or the Windows Update Agent (issue 12).
        const channels = await channelsOf(
          site.db,
          records.map((c) => c.clientId),
        );
        const list = records.map((c) => ({ ...c, channel: channels.get(c.clientId) ?? 'agent' }));
        output(opts.json, list, () => clientTable(list));
      });
    });

  clients
    .command('conflicts')
    .description('records held in conflict, each with the record it duplicates')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const list = await site.clients.conflicts();
        output(opts.json, list, () =>
          table(
            ['CLIENT', 'HARDWARE ID', 'NAME', 'DUPLICATES'],
            list.map((c) => [c.clientId, c.hardwareId, c.name, c.duplicates?.clientId ?? '-']),
          ),
        );
      });
    });

  for (const [name, description] of [
    ['approve', 'approve a pending client (it then receives deployment policy)'],
    ['block', 'block a client: refused on every client route'],
    ['unblock', 'lift a block'],
  ] as const) {
    clients
      .command(name)
      .description(description)
      .argument('<clientId>', 'the client record')
      .option('--json', 'print JSON')
      .action(async (clientId: string, opts: { json?: boolean }, cmd: Command) => {
        await withSite(cmd, async (site) => {
          const view = await site.clients[name](clientId, localActor());
          output(
            opts.json,
            view,
            () =>
              `${name === 'approve' ? 'approved' : `${name}ed`} client ${view.clientId} (${view.name})`,
          );
        });
      });
  }

  clients
    .command('resolve')
    .description(
      'resolve a record held in conflict: --merge (same machine), --new (another machine) or --block',
    )
    .argument('<clientId>', 'the record in conflict')
    .option('--merge', 'the same machine as the record it duplicates, which it replaces')
    .option('--new', 'a different machine: both records stay active')
    .option('--block', 'refuse this record (and new registrations of its hardware ID)')
    .option('--json', 'print JSON')
    .action(
      async (
        clientId: string,
        opts: { merge?: boolean; new?: boolean; block?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        const chosen = (['merge', 'new', 'block'] as const).filter((k) => opts[k] === true);
        const how = chosen[0];
        if (how === undefined || chosen.length > 1) {
          throw new UpcatError(
            'invalid_input',
            'resolve: give exactly one of --merge, --new or --block',
          );
        }
        await withSite(cmd, async (site) => {
          const view = await site.clients.resolve(clientId, how, localActor());
          output(
            opts.json,
            view,
            () =>
              `resolved client ${view.clientId} (${how}): ${view.recordState}${view.blocked ? ', blocked' : ''}`,
          );
        });
      },
    );
}

function clientTable(list: Array<ClientView & { channel?: string }>): string {
  if (list.length === 0) return 'no clients';
  return table(
    [
      'CLIENT',
      'HARDWARE ID',
      'NAME',
      'STATUS',
      'RECORD',
      'BLOCKED',
      'CLONE',
      'GROUPS',
      'CHANNEL',
      'LAST CONTACT',
    ],
    list.map((c) => [
      c.clientId,
      c.hardwareId,
      c.name,
      c.status,
      c.recordState,
      c.blocked ? 'yes' : 'no',
      // A suspected cloned disk: the ID was presented from other hardware (site/clones.ts).
      c.cloneSuspected ? 'suspected' : '-',
      c.groups.join(', ') || '-',
      c.channel ?? '-',
      c.lastContact ?? '-',
    ]),
  );
}
