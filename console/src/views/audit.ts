import { query, request } from '../api.js';
import { h, show, when } from '../dom.js';
import { pagedTable } from '../table.js';
import { heading, type ViewContext } from './common.js';

interface Entry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  detail: unknown;
  source: string | null;
}

/** The audit log, newest first (admins only: the server refuses the others). */
export function auditView(ctx: ViewContext): void {
  show(
    ctx.main,
    heading('Audit log'),
    pagedTable<Entry>(
      'Changes, newest first',
      [
        { title: 'When', cell: (e) => when(e.at) },
        { title: 'Who', cell: (e) => e.actor },
        { title: 'Action', cell: (e) => e.action },
        { title: 'Target', cell: (e) => e.target ?? '' },
        { title: 'From', cell: (e) => e.source ?? '' },
        {
          title: 'Detail',
          cell: (e) =>
            e.detail === null || e.detail === undefined
              ? ''
              : h('code', {}, JSON.stringify(e.detail)),
        },
      ],
      async (cursor) => {
        // Each page comes oldest first (as the CLI prints it); the console shows newest first.
        const page = await request<{ entries: Entry[]; next: { before: number } | null }>(
          'GET',
          `/v1/audit${query({ limit: 50, before: cursor })}`,
        );
        return {
          items: [...page.entries].reverse(),
          next: page.next === null ? null : String(page.next.before),
        };
      },
      ctx.fail,
    ),
  );
}
