import { request } from '../api.js';
import { h, show } from '../dom.js';
import { heading, type ViewContext } from './common.js';

interface Group {
  name: string;
  members?: number;
  memberCount?: number;
}

export function groupsView(ctx: ViewContext): void {
  show(ctx.main, heading('Groups'), h('p', { class: 'muted' }, 'Loading…'));
  void request<{ groups: Group[] }>('GET', '/v1/groups')
    .then(({ groups }) =>
      show(
        ctx.main,
        heading('Groups'),
        h(
          'table',
          {},
          h('caption', {}, 'Groups and their members'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col' }, 'Name'),
              h('th', { scope: 'col', class: 'num' }, 'Members'),
            ),
          ),
          h(
            'tbody',
            {},
            groups.map((g) =>
              h(
                'tr',
                {},
                h(
                  'td',
                  {},
                  h('a', { href: `#/clients?group=${encodeURIComponent(g.name)}` }, g.name),
                ),
                h('td', { class: 'num' }, String(g.memberCount ?? g.members ?? '—')),
              ),
            ),
          ),
        ),
      ),
    )
    .catch(ctx.fail);
}
