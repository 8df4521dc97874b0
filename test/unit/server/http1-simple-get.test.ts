import test from 'ava';
import { MAX_HEAD, readSimpleGet } from '../../../src/server/http1-simple-get.js';

/**
 * The metadata front reads a request itself only when it is a complete GET with no body, written
 * strictly to RFC 9112; everything else is left (undefined) to node:http. What node:http makes of
 * the same bytes is checked in test/integration/metadata-front.test.ts.
 */

const CHECK = 'GET /tuf/timestamp.json HTTP/1.1\r\nHost: site\r\nIf-None-Match: "abc"\r\n\r\n';

test('a conditional GET is read whole: target, If-None-Match, and where the next request starts', (t) => {
  t.deepEqual(readSimpleGet(CHECK, 0), {
    target: '/tuf/timestamp.json',
    ifNoneMatch: '"abc"',
    authorization: undefined,
    hardwareId: undefined,
    end: CHECK.length,
  });
  // Pipelined: the second starts where the first ended.
  const two = CHECK + 'GET /tuf/root.json HTTP/1.1\r\nhost: site\r\n\r\n';
  t.deepEqual(readSimpleGet(two, CHECK.length), {
    target: '/tuf/root.json',
    ifNoneMatch: undefined,
    authorization: undefined,
    hardwareId: undefined,
    end: two.length,
  });
});

test('field names are case-insensitive, whitespace around a value is not part of it, other fields are passed over', (t) => {
  const text =
    'GET /tuf/timestamp.json HTTP/1.1\r\nHOST:site\r\nUser-Agent: curl/8.5.0\r\n' +
    'Accept: */*\r\nif-none-match: \t W/"abc", "def" \t\r\nConnection: Keep-Alive\r\n\r\n';
  t.deepEqual(readSimpleGet(text, 0), {
    target: '/tuf/timestamp.json',
    ifNoneMatch: 'W/"abc", "def"',
    authorization: undefined,
    hardwareId: undefined,
    end: text.length,
  });
  // An empty value is a value.
  const empty = 'GET /a?b=c HTTP/1.1\r\nHost: x\r\nIf-None-Match:\r\n\r\n';
  t.like(readSimpleGet(empty, 0), { target: '/a?b=c', ifNoneMatch: '' });
  // obs-text (bytes 0x80-0xff, here as latin1) is allowed in a value.
  t.truthy(readSimpleGet('GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\n\r\n', 0));
});

test('a sync is read with its Authorization and Upcat-Hardware-Id, whatever their case', (t) => {
  const text =
    'GET /v1/sync?anchor=u1.abc-_ HTTP/1.1\r\nHost: site\r\nauthorization:  Bearer id.secret \r\n' +
    'UPCAT-HARDWARE-ID: hw 1\r\n\r\n';
  t.deepEqual(readSimpleGet(text, 0), {
    target: '/v1/sync?anchor=u1.abc-_',
    ifNoneMatch: undefined,
    authorization: 'Bearer id.secret',
    hardwareId: 'hw 1',
    end: text.length,
  });
});

/** Requests left to node:http, each with why. */
const LEFT: [string, string][] = [
  ['not all here yet', 'GET /tuf/timestamp.json HTTP/1.1\r\nHost: site\r\n'],
  ['the request line only', 'GET /tuf/timestamp.json HTTP/1.1\r\n\r\n'],
  ['HEAD', 'HEAD /tuf/timestamp.json HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['POST', 'POST /tuf/timestamp.json HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['lower-case method', 'get /tuf/timestamp.json HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['HTTP/1.0', 'GET /tuf/timestamp.json HTTP/1.0\r\nHost: x\r\n\r\n'],
  ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ['absolute-form target', 'GET http://x/tuf/timestamp.json HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['asterisk-form', 'GET * HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a space in the target', 'GET /tuf/time stamp.json HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a non-ASCII target', 'GET /tuf/\xe9.json HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['two spaces', 'GET  /tuf/timestamp.json HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['no Host', 'GET /tuf/timestamp.json HTTP/1.1\r\nAccept: */*\r\n\r\n'],
  ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
  [
    'two Authorization lines (node:http keeps the first)',
    'GET /v1/sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n',
  ],
  [
    'two Upcat-Hardware-Id lines (node:http joins them)',
    'GET /v1/sync HTTP/1.1\r\nHost: x\r\nUpcat-Hardware-Id: a\r\nupcat-hardware-id: b\r\n\r\n',
  ],
  [
    'two If-None-Match lines',
    'GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: "a"\r\nIf-None-Match: "b"\r\n\r\n',
  ],
  ['Content-Length, even 0', 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
  ['Transfer-Encoding', 'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  [
    'transfer-encoding in capitals',
    'GET / HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING: chunked\r\n\r\n',
  ],
  ['Upgrade', 'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
  ['Expect', 'GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n'],
  ['Connection: close', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'],
  ['Connection with options', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, te\r\n\r\n'],
  ['bare LF ending a field line', 'GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n'],
  ['bare LF ending the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n'],
  ['bare CR in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: y\rz\r\n\r\n'],
  ['NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: y\0z\r\n\r\n'],
  ['DEL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: y\x7fz\r\n\r\n'],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n'],
  ['whitespace before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
  ['a separator in a field name', 'GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n'],
  ['no colon', 'GET / HTTP/1.1\r\nHost: a\r\nX-Lonely\r\n\r\n'],
  ['an empty field name', 'GET / HTTP/1.1\r\nHost: a\r\n: z\r\n\r\n'],
  ['leading empty line', '\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'],
];

for (const [why, text] of LEFT) {
  test(`left to node:http: ${why}`, (t) => {
    t.is(readSimpleGet(text, 0), undefined);
  });
}

test('a head longer than MAX_HEAD is left to node:http; one just within it is read', (t) => {
  const head = (valueLength: number): string =>
    `GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(valueLength)}\r\n\r\n`;
  const fixed = head(0).length - 4; // all but the value and the empty line's CRLFCRLF
  t.truthy(readSimpleGet(head(MAX_HEAD - fixed), 0));
  t.is(readSimpleGet(head(MAX_HEAD - fixed + 1), 0), undefined);
});

test('a long run of whitespace inside a value is read in one pass and kept', (t) => {
  // With a lazy value before the trailing whitespace this took quadratic time; the field-content
  // form reads it once. The value keeps its inner whitespace and loses the trailing run.
  const spaces = ' '.repeat(3000); // twice, within MAX_HEAD
  const text = `GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: "a"${spaces}"b"${spaces}\r\n\r\n`;
  t.is(readSimpleGet(text, 0)?.ifNoneMatch, `"a"${spaces}"b"`);
});

test('reading starts at the offset given and ignores what comes before', (t) => {
  const junk = 'POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello';
  t.deepEqual(readSimpleGet(junk + CHECK, junk.length), {
    target: '/tuf/timestamp.json',
    ifNoneMatch: '"abc"',
    authorization: undefined,
    hardwareId: undefined,
    end: junk.length + CHECK.length,
  });
});
