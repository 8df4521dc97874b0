import type { Command } from 'commander';
import type { DeclineResult } from '../../publish/decline-service.js';
import type { Page } from '../../server/paging.js';
import type { UpdateDetail } from '../../site/update-detail.js';
import type { UpdateSummary } from '../../site/update-query.js';
import { localActor, output } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';
import { declineText, detailText, listText } from './updates-format.js';

type Opts = RemoteOptions & { json?: boolean };

interface ListOpts extends Opts {
  product?: string;
  classification?: string;
  search?: string;
  status?: string;
  since?: string;
  limit?: string;
  cursor?: string;
  all?: boolean;
}

/** A page is at most this many long (paging.ts MAX_PAGE): what `--all` asks for each time. */
const ALL_PAGE = '1000';

/**
 * `upcat updates list|show|decline|undecline` (issue 14 item 3): the same service as
 * `GET /v1/updates...` and `POST /v1/updates/:id/decline|undecline`, locally or with
 * `--server URL --token T`. Update IDs may be given by a unique prefix.
 */
export function registerUpdates(program: Command): void {
  const updates = program
    .command('updates')
    .description('the updates in the catalog: list, show, decline, undecline');

  remoteOptions(
    updates
      .command('list')
      .description('updates, newest published first, filtered; one page unless --all')
      .option('--product <name>', 'only this product (exact name)')
      .option('--classification <name>', 'only this classification (exact name)')
      .option('--search <text>', 'title contains this text (any case)')
      .option('--status <status>', 'live, superseded, expired or declined')
      .option('--since <time>', 'latest revision published since (ISO 8601 time, or 7d)')
      .option('--limit <n>', 'updates per page, 1 to 1000 (default 100)')
      .option('--cursor <next>', 'the page after the one whose "next" this is')
      .option('--all', 'follow the pages to the end')
      .option('--json', 'print JSON: {updates, next}'),
  ).action(async (opts: ListOpts, cmd: Command) => {
    const query = queryOf(opts);
    const page = await localOrRemote(
      cmd,
      opts,
      (site) => collect(opts.all === true, query, (q) => site.updateAdmin.list(q)),
      (remote) =>
        collect(opts.all === true, query, async (q) => {
          const body = await remote.getJson<{ updates: UpdateSummary[]; next: string | null }>(
            '/v1/updates',
            q,
          );
          return { items: body.updates, next: body.next };
        }),
    );
    output(opts.json, { updates: page.items, next: page.next }, () => listText(page));
  });

  remoteOptions(
    updates
      .command('show')
      .description('one update: its revisions, files, rules, relationships and deployments')
      .argument('<updateId>', 'the update (or a unique prefix of its ID)')
      .option('--json', 'print JSON'),
  ).action(async (updateId: string, opts: Opts, cmd: Command) => {
    const detail = await localOrRemote(
      cmd,
      opts,
      (site) => site.updateAdmin.show(updateId),
      (remote) => remote.getJson<UpdateDetail>(`/v1/updates/${encodeURIComponent(updateId)}`),
    );
    output(opts.json, detail, () => detailText(detail));
  });

  for (const change of ['decline', 'undecline'] as const) {
    remoteOptions(
      updates
        .command(change)
        .description(
          change === 'decline'
            ? 'stop offering an update (it leaves every policy and the signed catalog; it cannot be deployed) until an undecline'
            : 'offer a declined update again, with the deployments it had',
        )
        .argument('<updateId>', 'the update (or a unique prefix of its ID)')
        .option('--json', 'print the result as JSON'),
    ).action(async (updateId: string, opts: Opts, cmd: Command) => {
      const result = await localOrRemote(
        cmd,
        opts,
        (site) => site.updateAdmin[change](updateId, localActor()),
        (remote) =>
          remote.postJson<DeclineResult>(
            `/v1/updates/${encodeURIComponent(updateId)}/${change}`,
            {},
          ),
      );
      output(opts.json, result, () => declineText(result));
    });
  }
}

/** The list's query string from the options; absent options are left out. */
function queryOf(opts: ListOpts): Record<string, string> {
  const query: Record<string, string | undefined> = {
    product: opts.product,
    classification: opts.classification,
    q: opts.search,
    status: opts.status,
    since: opts.since,
    limit: opts.limit ?? (opts.all === true ? ALL_PAGE : undefined),
    cursor: opts.cursor,
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(query)) if (v !== undefined) out[k] = v;
  return out;
}

/** One page, or with `all` every page from the first asked for to the end. */
async function collect(
  all: boolean,
  query: Record<string, string>,
  page: (query: Record<string, string>) => Promise<Page<UpdateSummary>>,
): Promise<Page<UpdateSummary>> {
  let current = await page(query);
  if (!all) return current;
  const items = [...current.items];
  while (current.next !== null) {
    current = await page({ ...query, cursor: current.next });
    items.push(...current.items);
  }
  return { items, next: null };
}
