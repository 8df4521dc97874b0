import test from 'ava';
import fc from 'fast-check';
import { cutCookie, EnvelopeMemo } from '../../../../src/windows/wusp/envelope-memo.js';
import { readSyncUpdates } from '../../../../src/windows/wusp/requests.js';
import { parseEnvelope, WuspFault } from '../../../../src/windows/wusp/soap.js';

const CWS = 'http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService';
const OPEN =
  '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body>';
const CLOSE = '</soap:Body></soap:Envelope>';

function sync(data: string, expiration = '2030-01-01T00:00:00Z', ids = [1, 2, 3]): string {
  const ints = ids.map((i) => `<int>${i}</int>`).join('');
  return (
    `${OPEN}<SyncUpdates xmlns="${CWS}"><cookie><Expiration>${expiration}</Expiration>` +
    `<EncryptedData>${data}</EncryptedData></cookie><parameters><ExpressQuery>false</ExpressQuery>` +
    `<InstalledNonLeafUpdateIDs><int>7</int></InstalledNonLeafUpdateIDs>` +
    `<OtherCachedUpdateIDs>${ints}</OtherCachedUpdateIDs><SkipSoftwareSync>false</SkipSoftwareSync>` +
    `</parameters></SyncUpdates>${CLOSE}`
  );
}

const parse = (text: string) => () => parseEnvelope(text, 'client');

test('a body that differs only in its cookie is read from the kept tree, exactly as a parse would read it', (t) => {
  const memo = new EnvelopeMemo();
  const first = sync('QUFBQQ==');
  t.deepEqual(memo.read('client', first, parse(first)), parseEnvelope(first, 'client'));
  t.is(memo.hits, 0);
  const second = sync('QkJCQkJC', '2031-06-01T12:00:00.5Z');
  const reused = memo.read('client', second, parse(second));
  t.is(memo.hits, 1);
  t.deepEqual(reused, parseEnvelope(second, 'client'));
  const cookie = readSyncUpdates(reused.operation).cookie;
  t.is(cookie?.encryptedData?.toString('base64'), 'QkJCQkJC');
  t.is(cookie?.expiration, Date.parse('2031-06-01T12:00:00.500Z'));
  // Another cache list is another body: parsed, not confused with the first.
  const other = sync('QUFBQQ==', '2030-01-01T00:00:00Z', [1, 2, 4]);
  t.deepEqual(memo.read('client', other, parse(other)), parseEnvelope(other, 'client'));
  t.is(memo.hits, 1);
  // The kept tree is not changed by reuse: the first body still reads as it did.
  t.deepEqual(memo.read('client', first, parse(first)), parseEnvelope(first, 'client'));
});

test('for any cookie texts, the memo reads what the parser reads', (t) => {
  const memo = new EnvelopeMemo();
  const base64 = fc.stringMatching(/^[A-Za-z0-9+/=]{0,200}$/);
  const dateTime = fc.stringMatching(/^[0-9A-Za-z:.+-]{0,40}$/);
  fc.assert(
    fc.property(base64, dateTime, (data, expiration) => {
      const text = sync(data, expiration);
      let expected: unknown;
      try {
        expected = parseEnvelope(text, 'client');
      } catch (err) {
        expected = err;
      }
      let got: unknown;
      try {
        got = memo.read('client', text, parse(text));
      } catch (err) {
        got = err;
      }
      t.deepEqual(got, expected);
    }),
    { numRuns: 300 },
  );
  t.true(memo.hits > 250, `${memo.hits} hits`);
});

test('bodies that could parse otherwise are never cut: comments, CDATA, DOCTYPE, PIs, repeated or prefixed tags, markup in the texts', (t) => {
  const good = sync('QUFBQQ==');
  t.not(cutCookie('client', good), undefined);
  const variants = [
    good.replace('<soap:Body>', '<soap:Body><!-- x -->'),
    good.replace('<parameters>', '<parameters><![CDATA[x]]>'),
    `<!DOCTYPE x>${good}`,
    good.replace('<soap:Body>', '<soap:Body><?pi <EncryptedData>x</EncryptedData>?>'),
    good.replace('<parameters>', '<parameters><EncryptedData>QQ==</EncryptedData>'),
    good.replace('<Expiration>2030', '<Expiration>&#50;030'),
    good.replace('QUFBQQ==', 'QUFB QQ=='),
    good.replace('<EncryptedData>QUFBQQ==</EncryptedData>', '<EncryptedData/>'),
    `${good}\u0000`,
  ];
  for (const v of variants) t.is(cutCookie('client', v), undefined, v.slice(0, 300));
});

test('a tree is kept only when the cut texts are the operation cookie; otherwise every body is parsed', (t) => {
  const memo = new EnvelopeMemo();
  // GetCookie's old cookie holds the same two elements, but not as the operation's `cookie`.
  const getCookie = (data: string) =>
    `${OPEN}<GetCookie xmlns="${CWS}"><authCookies /><oldCookie><Expiration>2030-01-01T00:00:00Z</Expiration>` +
    `<EncryptedData>${data}</EncryptedData></oldCookie><lastChange>2030-01-01T00:00:00Z</lastChange>` +
    `<currentTime>2030-01-01T00:00:00Z</currentTime><protocolVersion>1.20</protocolVersion></GetCookie>${CLOSE}`;
  for (const data of ['QUFBQQ==', 'QkJCQg==']) {
    const text = getCookie(data);
    t.deepEqual(memo.read('client', text, parse(text)), parseEnvelope(text, 'client'));
  }
  // A cookie element with an attribute is read as written (xsi:nil is meaningful).
  for (const data of ['QUFBQQ==', 'QkJCQg==']) {
    const text = sync(data).replace('<cookie>', '<cookie xsi:type="Cookie">');
    t.deepEqual(memo.read('client', text, parse(text)), parseEnvelope(text, 'client'));
  }
  t.is(memo.hits, 0);
});

test('a bad body is a fault every time, and is not kept', (t) => {
  const memo = new EnvelopeMemo();
  const bad = sync('QUFBQQ==').replace('</parameters>', '');
  for (let i = 0; i < 2; i++)
    t.throws(() => memo.read('client', bad, parse(bad)), { instanceOf: WuspFault });
  t.is(memo.hits, 0);
  // Same skeleton but another service: kept apart (the namespace check differs per service).
  const text = sync('QUFBQQ==');
  memo.read('client', text, parse(text));
  t.throws(() => memo.read('reporting', text, () => parseEnvelope(text, 'reporting')), {
    instanceOf: WuspFault,
  });
});

test('the memo keeps a bounded number of trees, dropping the oldest', (t) => {
  const memo = new EnvelopeMemo(1024 * 1024, 2);
  const bodies = [[1], [2], [3]].map((ids) => sync('QUFBQQ==', '2030-01-01T00:00:00Z', ids));
  for (const b of bodies) memo.read('client', b, parse(b));
  const again = (b: string) => {
    const before = memo.hits;
    memo.read('client', b.replace('QUFBQQ==', 'QkJC'), parse(b.replace('QUFBQQ==', 'QkJC')));
    return memo.hits > before;
  };
  t.false(again(bodies[0] as string), 'the oldest was dropped');
  t.true(again(bodies[2] as string));
});
