import test from 'ava';
import { csvField, toCsv } from '../../../src/site/csv.js';
import { reportCsv } from '../../../src/site/report-csv.js';

test('csv: RFC 4180 quoting, CRLF records, a header row', (t) => {
  const csv = toCsv(
    [
      { header: 'name', value: (r: { name: string; n: number | null }) => r.name },
      { header: 'n', value: (r) => r.n },
    ],
    [
      { name: 'plain', n: 1 },
      { name: 'a,b', n: null },
      { name: 'say "hi"', n: -3 },
      { name: 'two\nlines', n: 0 },
      { name: 'cr\rhere', n: 2.5 },
    ],
  );
  t.is(
    csv,
    'name,n\r\nplain,1\r\n"a,b",\r\n"say ""hi""",-3\r\n"two\nlines",0\r\n"cr\rhere",2.5\r\n',
  );
});

test('csv: text a spreadsheet would run as a formula is neutralized; numbers are not', (t) => {
  t.is(csvField('=HYPERLINK("http://evil","x")'), `"'=HYPERLINK(""http://evil"",""x"")"`);
  t.is(csvField('+1+1'), "'+1+1");
  t.is(csvField('-2+3'), "'-2+3");
  t.is(csvField('@SUM(A1)'), "'@SUM(A1)");
  t.is(csvField('\t=1'), "'\t=1");
  t.is(csvField('\r=1'), `"'\r=1"`);
  t.is(csvField(-2147024894), '-2147024894');
  t.is(csvField('a=b'), 'a=b');
  t.is(csvField(null), '');
  t.is(csvField(undefined), '');
  t.is(csvField(true), 'true');
});

test('report csv: the columns are the JSON fields, in order', (t) => {
  const csv = reportCsv('stale', [
    { clientId: 'c1', name: '=cmd|calc', hardwareId: 'hw', lastContact: null },
  ]);
  t.is(csv, "clientId,name,hardwareId,lastContact\r\nc1,'=cmd|calc,hw,\r\n");
});
