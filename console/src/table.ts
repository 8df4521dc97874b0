import { h, show, type Child } from './dom.js';

export interface Column<T> {
  title: string;
  cell: (row: T) => Child | Child[];
  /** Right-aligned numbers. */
  numeric?: boolean;
}

export interface PageOf<T> {
  items: T[];
  next: string | null;
}

/**
 * A table of one server-side page at a time (the API's keyset cursors): "Next" follows `next`,
 * "Previous" goes back through the cursors already seen. Nothing is filtered or sorted in the
 * browser, so a list of 100,000 clients costs one page.
 */
export function pagedTable<T>(
  caption: string,
  columns: Array<Column<T>>,
  load: (cursor: string | undefined) => Promise<PageOf<T>>,
  onError: (err: unknown) => void,
): HTMLElement {
  const body = h('tbody');
  const status = h('p', { class: 'muted', role: 'status' });
  const prev = h('button', { type: 'button', class: 'secondary' }, 'Previous page');
  const next = h('button', { type: 'button', class: 'secondary' }, 'Next page');
  const cursors: Array<string | undefined> = [undefined];
  let at = 0;
  let nextCursor: string | null = null;

  const render = async (): Promise<void> => {
    status.textContent = 'Loading…';
    prev.disabled = true;
    next.disabled = true;
    try {
      const page = await load(cursors[at]);
      nextCursor = page.next;
      show(
        body,
        page.items.length === 0
          ? h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, 'Nothing to show.'))
          : page.items.map((row) =>
              h(
                'tr',
                {},
                columns.map((c) =>
                  h('td', c.numeric === true ? { class: 'num' } : {}, c.cell(row)),
                ),
              ),
            ),
      );
      status.textContent = `Page ${at + 1}${page.items.length > 0 ? `, ${page.items.length} rows` : ''}`;
      prev.disabled = at === 0;
      next.disabled = nextCursor === null;
    } catch (err) {
      status.textContent = '';
      onError(err);
    }
  };
  prev.addEventListener('click', () => {
    if (at > 0) at--;
    void render();
  });
  next.addEventListener('click', () => {
    if (nextCursor === null) return;
    cursors[at + 1] = nextCursor;
    at++;
    void render();
  });
  void render();
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      tableHead(
        caption,
        columns.map((c) => c.title),
        columns.map((c) => c.numeric === true),
      ),
      body,
    ),
    h('div', { class: 'pager' }, prev, next, status),
  );
}

/** A table's caption and header row (a `num` class on the numeric columns). */
export function tableHead(caption: string, titles: string[], numeric: boolean[]): Node[] {
  return [
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        titles.map((t, i) =>
          h('th', { scope: 'col', class: numeric[i] === true ? 'num' : undefined }, t),
        ),
      ),
    ),
  ];
}
