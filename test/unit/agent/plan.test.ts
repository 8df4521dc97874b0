import test from 'ava';
import { orderByPrerequisites } from '../../../src/agent/plan.js';
import { mapReturnCode } from '../../../src/agent/return-codes.js';
import { splitArguments, substituteProperties } from '../../../src/agent/args.js';
import { resolveProperties, parsePropertyFlags } from '../../../src/agent/properties.js';

const item = (updateId: string, prerequisites: string[][] = []) => ({ updateId, prerequisites });

test('prerequisites install first, whatever the IDs sort as; outside prerequisites are ignored', (t) => {
  // Alphabetical order (a, m, q, z) is the reverse of the dependency order: a sort is not enough.
  const { order, cycles } = orderByPrerequisites([
    item('a', [['m'], ['outside']]),
    item('q'),
    item('m', [['z', 'x']]),
    item('z', [['q']]),
  ]);
  t.deepEqual(
    order.map((i) => i.updateId),
    ['q', 'z', 'm', 'a'],
  );
  t.deepEqual(cycles, []);
});

test('an OR-group of prerequisites orders after each member present in the set', (t) => {
  const { order } = orderByPrerequisites([item('b', [['y', 'x']]), item('y'), item('x')]);
  const at = (id: string) => order.findIndex((i) => i.updateId === id);
  t.true(at('b') > at('x') && at('b') > at('y'));
});

test('a cycle is an error for its members and for what depends on it', (t) => {
  const { order, cycles } = orderByPrerequisites([
    item('a', [['b']]),
    item('b', [['a']]),
    item('c', [['a']]),
    item('d'),
  ]);
  t.deepEqual(
    order.map((i) => i.updateId),
    ['d'],
  );
  t.deepEqual(cycles.map((c) => c.item.updateId).sort(), ['a', 'b', 'c']);
  t.true(cycles.some((c) => c.cycle.join(' ') === 'a b a'));
});

test('return codes: the manifest first, then 0/3010/1641, then the default result', (t) => {
  const handler = {
    returnCodes: [
      { code: 0, result: 'Succeeded' as const, reboot: false },
      { code: 17, result: 'Succeeded' as const, reboot: true },
      { code: 3010, result: 'Failed' as const, reboot: false },
    ],
    defaultResult: 'Failed' as const,
  };
  t.deepEqual(mapReturnCode(handler, 0), { result: 'Succeeded', reboot: false });
  t.deepEqual(mapReturnCode(handler, 17), { result: 'Succeeded', reboot: true });
  t.deepEqual(
    mapReturnCode(handler, 3010),
    { result: 'Failed', reboot: false },
    'the manifest overrides',
  );
  t.deepEqual(mapReturnCode(handler, 1641), { result: 'Succeeded', reboot: true });
  t.deepEqual(mapReturnCode(handler, 1), { result: 'Failed', reboot: false });
  t.deepEqual(mapReturnCode({ ...handler, defaultResult: 'Succeeded' }, 1), {
    result: 'Succeeded',
    reboot: false,
  });
  t.deepEqual(mapReturnCode({ ...handler, defaultResult: 'Succeeded' }, null), {
    result: 'Failed',
    reboot: false,
  });
});

test('arguments split like a shell, without expansion; $(name) takes a property', (t) => {
  t.deepEqual(splitArguments(`--quiet  --dir "/opt/my app" 'a b' c\\ d "x\\"y"`), [
    '--quiet',
    '--dir',
    '/opt/my app',
    'a b',
    'c d',
    'x"y',
  ]);
  t.deepEqual(splitArguments('$(HOME) `id` ; rm'), ['$(HOME)', '`id`', ';', 'rm']);
  t.throws(() => splitArguments('"open'), { message: /unclosed/ });
  t.deepEqual(substituteProperties(['--dir=$(installDir)'], { installDir: '/opt/x' }), [
    '--dir=/opt/x',
  ]);
  t.throws(() => substituteProperties(['$(nope)'], {}), { message: /"nope"/ });
});

test('installation properties: command line, then provisioned, then the site', (t) => {
  t.deepEqual(
    resolveProperties({ a: 'cli' }, { a: 'prov', b: 'prov' }, { a: 'site', b: 'site', c: 'site' }),
    { a: 'cli', b: 'prov', c: 'site' },
  );
  t.deepEqual(parsePropertyFlags(['x=1', 'y=a=b', 'z=']), { x: '1', y: 'a=b', z: '' });
  t.throws(() => parsePropertyFlags(['=1']), { message: /--property/ });
});
