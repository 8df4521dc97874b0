/**
 * Install order (issue 6 item 2): prerequisites first. Only edges between updates installed in
 * the same cycle matter; a prerequisite outside the set is either installed already or makes the
 * update not applicable (decided by the rules, before ordering). Updates on a cycle cannot be
 * ordered: they are returned apart, with the cycle named, to be reported as failed.
 */
export interface PlanItem {
  updateId: string;
  /** AND of OR-groups of update IDs. */
  prerequisites: readonly (readonly string[])[];
}

export interface Ordered<T extends PlanItem> {
  order: T[];
  cycles: Array<{ item: T; cycle: string[] }>;
}

export function orderByPrerequisites<T extends PlanItem>(items: readonly T[]): Ordered<T> {
  const byId = new Map(items.map((i) => [i.updateId, i] as const));
  const deps = (item: T): string[] =>
    [...new Set(item.prerequisites.flat())]
      .filter((id) => byId.has(id) && id !== item.updateId)
      .sort();
  const order: T[] = [];
  const cycles: Ordered<T>['cycles'] = [];
  const state = new Map<string, 'visiting' | 'done' | 'cyclic'>();

  const visit = (item: T, stack: string[]): boolean => {
    const seen = state.get(item.updateId);
    if (seen === 'done') return true;
    if (seen === 'cyclic') return false;
    if (seen === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(item.updateId)), item.updateId];
      for (const id of new Set(cycle)) state.set(id, 'cyclic');
      for (const id of new Set(cycle.slice(0, -1))) {
        const member = byId.get(id);
        if (member !== undefined) cycles.push({ item: member, cycle });
      }
      return false;
    }
    state.set(item.updateId, 'visiting');
    let ok = true;
    for (const id of deps(item)) {
      const dep = byId.get(id);
      if (dep !== undefined && !visit(dep, [...stack, item.updateId])) ok = false;
    }
    if (state.get(item.updateId) === 'cyclic') return false;
    if (!ok) {
      state.set(item.updateId, 'cyclic');
      cycles.push({ item, cycle: [item.updateId, '(depends on a cycle)'] });
      return false;
    }
    state.set(item.updateId, 'done');
    order.push(item);
    return true;
  };
  for (const item of [...items].sort((a, b) => (a.updateId < b.updateId ? -1 : 1))) visit(item, []);
  return { order, cycles };
}
