import type { Knex } from 'knex';

/**
 * The keyset condition of a paged list (src/server/paging.ts): rows strictly after `key` in the
 * order (first, second), which both databases answer from an index on those two columns.
 */
export function whereAfter(
  query: Knex.QueryBuilder,
  [first, second]: readonly [string, string],
  key: readonly [string, string] | undefined,
): Knex.QueryBuilder {
  if (key === undefined) return query;
  const [a, b] = key;
  return query.where((w) =>
    w.where(first, '>', a).orWhere((x) => x.where(first, a).andWhere(second, '>', b)),
  );
}
