import test from 'ava';
import fc from 'fast-check';
import { canonicalJson } from '../../../src/catalog/canonical-json.js';

/** The definition, written the plain way: the fast serializer must give the same bytes. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

test('equal to the plain definition for any JSON value, and parses back to it', (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const text = canonicalJson(value);
      return text === reference(value) && reference(JSON.parse(text)) === text;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('keys sorted by UTF-16 code units at every level; undefined members left out', (t) => {
  t.is(
    canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined }, '10': 0, '2': 0, é: 0, Z: 0 }),
    '{"10":0,"2":0,"Z":0,"a":{"d":[{"y":2,"z":1}]},"b":1,"é":0}',
  );
  // An astral character sorts by its surrogates, as the default sort and `<` do.
  t.is(canonicalJson({ '\u{1F600}': 1, '\uFFFF': 2 }), '{"\u{1F600}":1,"\uFFFF":2}');
  t.is(canonicalJson({ 'a"b': '\n' }), '{"a\\"b":"\\n"}');
});

test('what JSON cannot hold is refused', (t) => {
  for (const bad of [NaN, Infinity, () => 1, Symbol('s'), 1n, [undefined]])
    t.throws(() => canonicalJson(bad), { instanceOf: TypeError });
});
