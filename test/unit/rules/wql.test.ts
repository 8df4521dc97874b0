import test from 'ava';
import { evaluateWql, likeMatches, parseWql, type WmiValue } from '../../../src/rules/wql.js';

const instances: Record<string, WmiValue>[] = [
  {
    Manufacturer: 'Dell Inc.',
    Model: 'Latitude 7490',
    SystemTypeID: '2098',
    Cores: 4,
    Vm: false,
    Tag: null,
  },
  {
    Manufacturer: 'HP',
    Model: 'HP EliteDesk 800 G3 DM',
    SystemTypeID: '1',
    Cores: 8,
    Vm: true,
    Tag: 'x',
  },
];

function run(query: string, list = instances) {
  const parsed = parseWql(query);
  if (!parsed.ok) return `unsupported: ${parsed.reason}`;
  return evaluateWql(parsed.query, list);
}

test('select forms and no where clause', (t) => {
  t.is(run('select * from Win32_ComputerSystem'), true);
  t.is(run('SELECT Manufacturer, Model FROM Win32_ComputerSystem'), true);
  t.is(run('select * from X', []), false);
});

test('comparisons are case-insensitive on text, numeric on numbers', (t) => {
  t.is(run("select * from C where Manufacturer = 'dell inc.'"), true);
  t.is(run("select * from C where manufacturer <> 'Dell Inc.'"), true);
  t.is(run("select * from C where Manufacturer != 'Dell Inc.' and Manufacturer != 'HP'"), false);
  t.is(run('select * from C where Cores = 8'), true);
  t.is(run('select * from C where Cores > 8'), false);
  t.is(run('select * from C where Cores >= 8'), true);
  t.is(run('select * from C where Cores < 5 and Cores <= 4'), true);
  t.is(run('select * from C where SystemTypeID = 2098'), true);
  t.is(run('select * from C where Vm = TRUE and Cores = 8'), true);
  t.is(run('select * from C where Model = "Latitude 7490"'), true);
});

test('the Dell range idiom from the fixtures', (t) => {
  const q =
    "SELECT * FROM Win32_ComputerSystem WHERE (Manufacturer >= 'Dell' AND Manufacturer < 'Dell~' ) AND ((Model >= 'Latitude' AND Model < 'Latitude~') OR (Model >= 'XPS' AND Model < 'XPS~'))";
  t.is(run(q), true);
  t.is(run(q, [instances[1] as Record<string, WmiValue>]), false);
});

test('like with % and _', (t) => {
  t.is(run("select * from C where Model like 'latitude%'"), true);
  t.is(run("select * from C where Model like '%EliteDesk%'"), true);
  t.is(run("select * from C where Model like 'H_ Elite%'"), true);
  t.is(run("select * from C where Model like 'H_'"), false);
  t.is(run("select * from C where Model not like '%e%'"), false);
  t.true(likeMatches('abc', '%'));
  t.true(likeMatches('', '%'));
  t.false(likeMatches('', '_'));
  t.true(likeMatches('a%b', 'a%b'));
  t.false(likeMatches('a'.repeat(5000), `${'%a'.repeat(50)}b`));
});

test('not, or, parentheses and precedence', (t) => {
  t.is(run("select * from C where not Manufacturer = 'HP' and Cores = 4"), true);
  t.is(run("select * from C where Manufacturer = 'x' or Manufacturer = 'y' and Cores = 4"), false);
  t.is(
    run("select * from C where (Manufacturer = 'x' or Manufacturer = 'HP') and Cores = 8"),
    true,
  );
  t.is(run("select * from C where not (Manufacturer = 'HP' or Manufacturer = 'Dell Inc.')"), false);
});

test('NULL and missing properties', (t) => {
  t.is(run('select * from C where Tag is null'), true);
  t.is(run("select * from C where Tag = 'x'"), true);
  t.is(run('select * from C where Tag is not null and Cores = 4'), false);
  t.is(run('select * from C where Tag = NULL and Cores = 4'), true);
  t.is(run("select * from C where Tag > 'a' and Cores = 4"), false);
  // a property no instance carries cannot be told
  t.is(run("select * from C where Color = 'red'"), 'unknown');
  t.is(run("select * from C where Color = 'red' or Cores = 4"), true);
  t.is(run("select * from C where Color = 'red' and Cores = 99"), false);
});

test('string escapes', (t) => {
  const list = [{ Path: 'C:\\Windows', Name: "O'Brien" }];
  t.is(run("select * from F where Path = 'C:\\\\Windows'", list), true);
  t.is(run("select * from F where Name = 'O\\'Brien'", list), true);
});

test('anything outside the subset is reported, never thrown', (t) => {
  for (const q of [
    'ASSOCIATORS OF {Win32_NetworkAdapter.DeviceID=1}',
    'select * from C where Model isa Foo',
    "select * from C where Model like '[a-c]%'",
    'select * from C where',
    'select * from C where (Cores = 1',
    "select * from C where 'a' = Model",
    'select * from C where Cores = 1 group by x',
    'select * from',
    'select * from C where Model = @',
    '',
    `select * from C where ${'('.repeat(1000)}`,
  ]) {
    const parsed = parseWql(q);
    t.false(parsed.ok, q);
  }
});
