/**
 * Random small changes to a good value, for tests that a zod-free fast path never accepts what
 * its schema would refuse or give back changed (shape-check.ts). Deterministic: a failure names a
 * reproducible case.
 */

/** A small linear congruential generator: numbers in [0, 1). */
export function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

export const ODD_VALUES: readonly unknown[] = [
  '',
  'x',
  -1,
  0,
  1.5,
  2 ** 53,
  true,
  false,
  null,
  [],
  {},
  ['a'],
  { type: 'REG_SZ', data: 'x' },
];

/** One random change somewhere inside a copy of `value`: a key removed, added, or made odd. */
export function mutate(value: unknown, next: () => number): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  let node: Record<string, unknown> = copy;
  for (;;) {
    const keys = Object.keys(node);
    const key = keys[Math.floor(next() * keys.length)];
    const child = key === undefined ? undefined : node[key];
    if (key !== undefined && typeof child === 'object' && child !== null && next() < 0.6) {
      node = child as Record<string, unknown>;
      continue;
    }
    const roll = next();
    if (key !== undefined && roll < 0.35) delete node[key];
    else if (roll < 0.5) node[next() < 0.5 ? 'extra' : ''] = 'x';
    else if (key !== undefined) node[key] = ODD_VALUES[Math.floor(next() * ODD_VALUES.length)];
    return copy;
  }
}
