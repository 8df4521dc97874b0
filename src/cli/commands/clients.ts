import type { Command } from 'commander';
import { UpcatError } from '../../errors.js';
import type { ClientView, Resolution } from '../../site/client-admin.js';
import { clientDetail, type ClientDetail } from '../../site/client-detail.js';
import { localActor, output } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';
import { historyTable } from './history-table.js';
import { table } from './table.js';

type Json = { json?: boolean };

interface ListOptions extends RemoteOptions, Json {
  status?: string;
  state?: string;
  group?: string;
  blocked?: boolean;
  conflict?: boolean;
  staleDays?: string;
  channel?: string;
  search?: string;
  limit?: string;
  cursor?: string;
  all?: boolean;
}

/**
 * `upcat clients list|show|approve|block|unblock|conflicts|resolve` (issue 5 items 3-5, 10;
 * issue 14 item 3), on the site home or with `--server URL --token T` through the admin API.
 * A client is named by its ID, a unique prefix of it, or its name.
 */
export function registerClients(program: Command): void {
  const clients = program
    .command('clients')
    .description('list, show, approve, block and resolve client records');

  remoteOptions(
    clients
      .command('list')
      .description('client records with their status, blocked flag, groups and channel')
      .option('--status <status>', 'approved or pending (active records), conflict, obsolete')
      .option('--state <state>', 'only records in this state: active, conflict or obsolete')
      .option('--group <name>', 'only members of this group')
      .option('--blocked', 'only blocked clients')
      .option('--conflict', 'only records held in conflict')
      .option('--stale-days <n>', 'only active records not seen for N days')
      .option('--channel <channel>', 'agent (or native) or wusp (Windows Update Agent)')
      .option('--search <text>', 'part of the name, or the start of the client or hardware ID')
      .option('--limit <n>', 'one page of at most N (default: every client)')
      .option('--cursor <next>', 'the page after this one (the "next" that --limit printed)')
      .option('--all', 'every page, however many (the default without --limit)')
      .option('--json', 'print JSON: an array of clients'),
  ).action(async (opts: ListOptions, cmd: Command) => {
    const query = listQuery(opts);
    // Validated here as the server validates it, so a bad filter fails before any connection.
    // The validator (zod) is loaded only when there is a filter to check or a local site to
    // query: a plain `clients list --server` starts without it (issue 16).
    const parser = async () => (await import('../../site/client-list.js')).parseClientQuery;
    if (Object.keys(query).length > 0) (await parser())(query);
    const everyPage = opts.all === true || opts.limit === undefined;
    const { items, next } = await localOrRemote(
      cmd,
      opts,
      async (site) => {
        const parseClientQuery = await parser();
        return collect(everyPage, query, async (q) => {
          const page = await site.clients.page(parseClientQuery(q));
          return { clients: page.items, next: page.next };
        });
      },
      async (remote) =>
        collect(everyPage, query, (q) =>
          remote.getJson<{ clients: ClientView[]; next: string | null }>('/v1/clients', q),
        ),
    );
    output(opts.json, items, () => clientTable(items));
    if (next !== null) process.stderr.write(`more clients: --cursor ${next}\n`);
  });

  remoteOptions(
    clients
      .command('show')
      .description('one client record and its recent state messages')
      .argument('<client>', 'the client: its ID, a unique prefix of it, or its name')
      .option('--json', 'print JSON: {"client": {...}, "history": [...]}'),
  ).action(async (ref: string, opts: RemoteOptions & Json, cmd: Command) => {
    const detail = await localOrRemote(
      cmd,
      opts,
      (site) => clientDetail(site, ref),
      (remote) => remote.getJson<ClientDetail>(`/v1/clients/${encodeURIComponent(ref)}`),
    );
    output(opts.json, detail, () => detailText(detail));
  });

  remoteOptions(
    clients
      .command('conflicts')
      .description('records held in conflict, each with the record it duplicates')
      .option('--json', 'print JSON'),
  ).action(async (opts: RemoteOptions & Json, cmd: Command) => {
    const list = await localOrRemote(
      cmd,
      opts,
      (site) => site.clients.conflicts(),
      async (remote) => {
        const held = await collect(true, { conflict: 'true' }, (q) =>
          remote.getJson<{ clients: ClientView[]; next: string | null }>('/v1/clients', q),
        );
        const out: Array<ClientView & { duplicates: ClientView | null }> = [];
        for (const c of held.items) {
          const dup =
            c.conflictWith === null
              ? null
              : (await remote.getJson<ClientDetail>(`/v1/clients/${c.conflictWith}`)).client;
          out.push({ ...c, duplicates: dup });
        }
        return out;
      },
    );
    output(opts.json, list, () =>
      table(
        ['CLIENT', 'HARDWARE ID', 'NAME', 'DUPLICATES'],
        list.map((c) => [c.clientId, c.hardwareId, c.name, c.duplicates?.clientId ?? '-']),
      ),
    );
  });

  for (const [name, description] of [
    ['approve', 'approve a pending client (it then receives deployment policy)'],
    ['block', 'block a client: refused on every client route'],
    ['unblock', 'lift a block'],
  ] as const) {
    remoteOptions(
      clients
        .command(name)
        .description(description)
        .argument('<client>', 'the client: its ID, a unique prefix of it, or its name')
        .option('--json', 'print JSON'),
    ).action(async (ref: string, opts: RemoteOptions & Json, cmd: Command) => {
      const view = await localOrRemote(
        cmd,
        opts,
        (site) => site.clients[name](ref, localActor()),
        (remote) =>
          remote.request<ClientView>('POST', `/v1/clients/${encodeURIComponent(ref)}/${name}`),
      );
      const done = name === 'approve' ? 'approved' : `${name}ed`;
      output(opts.json, view, () => `${done} client ${view.clientId} (${view.name})`);
    });
  }

  remoteOptions(
    clients
      .command('resolve')
      .description(
        'resolve a record held in conflict: --merge (same machine), --new (another machine) or --block',
      )
      .argument('<client>', 'the record in conflict: its ID, a unique prefix of it, or its name')
      .option('--merge', 'the same machine as the record it duplicates, which it replaces')
      .option('--new', 'a different machine: both records stay active')
      .option('--block', 'refuse this record (and new registrations of its hardware ID)')
      .option('--json', 'print JSON'),
  ).action(
    async (
      ref: string,
      opts: RemoteOptions & Json & { merge?: boolean; new?: boolean; block?: boolean },
      cmd: Command,
    ) => {
      const chosen = (['merge', 'new', 'block'] as const).filter((k) => opts[k] === true);
      const how: Resolution | undefined = chosen[0];
      if (how === undefined || chosen.length > 1) {
        throw new UpcatError(
          'invalid_input',
          'resolve: give exactly one of --merge, --new or --block',
        );
      }
      const view = await localOrRemote(
        cmd,
        opts,
        (site) => site.clients.resolve(ref, how, localActor()),
        (remote) =>
          remote.postJson<ClientView>(`/v1/clients/${encodeURIComponent(ref)}/resolve`, { how }),
      );
      output(
        opts.json,
        view,
        () =>
          `resolved client ${view.clientId} (${how}): ${view.recordState}${view.blocked ? ', blocked' : ''}`,
      );
    },
  );
}

/** The list options as the query string of `GET /v1/clients`. */
function listQuery(opts: ListOptions): Record<string, string> {
  const query: Record<string, string | undefined> = {
    status: opts.status,
    state: opts.state,
    group: opts.group,
    blocked: opts.blocked === true ? 'true' : undefined,
    conflict: opts.conflict === true ? 'true' : undefined,
    staleDays: opts.staleDays,
    channel: opts.channel,
    search: opts.search,
    limit: opts.limit,
    cursor: opts.cursor,
  };
  return Object.fromEntries(
    Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined),
  );
}

/** One page, or every page following `next` (the same keyset pages the API serves). */
async function collect(
  everyPage: boolean,
  query: Record<string, string>,
  fetchPage: (q: Record<string, string>) => Promise<{ clients: ClientView[]; next: string | null }>,
): Promise<{ items: ClientView[]; next: string | null }> {
  const items: ClientView[] = [];
  let q = everyPage ? { ...query, limit: query['limit'] ?? '1000' } : query;
  for (;;) {
    const page = await fetchPage(q);
    items.push(...page.clients);
    if (page.next === null || !everyPage) return { items, next: page.next };
    q = { ...q, cursor: page.next };
  }
}

function detailText({ client: c, history }: ClientDetail): string {
  const lines = [
    `client        ${c.clientId}`,
    `name          ${c.name}`,
    `hardware ID   ${c.hardwareId}`,
    `os / arch     ${c.os} / ${c.architecture}, client ${c.clientVersion}`,
    `status        ${c.status}${c.blocked ? ', blocked' : ''} (record ${c.recordState})`,
    `groups        ${c.groups.join(', ') || '-'}`,
    `channel       ${c.channel}`,
    `created       ${c.createdAt}`,
    `last contact  ${c.lastContact ?? 'never'}`,
  ];
  if (c.conflictWith !== null) lines.push(`duplicates    ${c.conflictWith}`);
  if (c.replacedBy !== null) lines.push(`replaced by   ${c.replacedBy}`);
  lines.push('', history.length === 0 ? 'no state messages' : 'recent state messages:');
  if (history.length > 0) lines.push(historyTable(history));
  return lines.join('\n');
}

function clientTable(list: ClientView[]): string {
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
      c.channel,
      c.lastContact ?? '-',
    ]),
  );
}
