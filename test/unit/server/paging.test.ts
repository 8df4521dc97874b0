import test from 'ava';
import express from 'express';
import request from 'supertest';
import {
  decodeCursor,
  encodeCursor,
  pageLimitOf,
  pageOf,
  sendJsonWithEtag,
} from '../../../src/server/paging.js';
import { isUpcatError } from '../../../src/errors.js';

test('a cursor decodes to the key it was made of', (t) => {
  const key = ['2026-12-03T10:00:00.000Z', 'u-1', 7];
  t.deepEqual(decodeCursor(encodeCursor(key), 3), key);
});

test('anything but a cursor of the right arity is a 400 naming the cursor', (t) => {
  const good = encodeCursor(['a', 1]);
  const bad = [
    '',
    '!!!',
    good + 'A', // not canonical
    Buffer.from('{"a":1}').toString('base64url'),
    Buffer.from('[1,2,3]').toString('base64url'),
    Buffer.from('[{"x":1},2]').toString('base64url'),
    Buffer.from('[1e999,2]').toString('base64url'),
    Buffer.from(JSON.stringify(['x'.repeat(300), 1])).toString('base64url'),
    'A'.repeat(2000),
  ];
  for (const text of bad) {
    const err = t.throws(() => decodeCursor(text, 2));
    t.true(isUpcatError(err) && err.code === 'invalid_input' && /cursor/.test(err.message), text);
  }
});

test('limits: default, bounds, and junk refused', (t) => {
  t.is(pageLimitOf(undefined), 100);
  t.is(pageLimitOf('1'), 1);
  t.is(pageLimitOf('1000'), 1000);
  for (const v of ['0', '1001', '-1', '1.5', 'x', ['1']]) t.throws(() => pageLimitOf(v));
});

test('a page of limit + 1 rows has a next cursor pointing after its last item', (t) => {
  const rows = [1, 2, 3, 4];
  const page = pageOf(rows, 3, (n) => [n]);
  t.deepEqual(page.items, [1, 2, 3]);
  t.deepEqual(decodeCursor(page.next ?? '', 1), [3]);
  t.is(pageOf([1, 2], 3, (n) => [n]).next, null);
});

test('ETag: the same body is a 304 for If-None-Match, another body a new tag', async (t) => {
  let body: unknown = { items: [1] };
  const app = express();
  app.get('/x', (req, res) => sendJsonWithEtag(req, res, body));
  const first = await request(app).get('/x');
  t.is(first.status, 200);
  t.deepEqual(first.body, { items: [1] });
  const etag = first.get('etag') ?? '';
  t.regex(etag, /^"[\w-]+"$/);
  t.is((await request(app).get('/x').set('If-None-Match', etag)).status, 304);
  body = { items: [2] };
  const changed = await request(app).get('/x').set('If-None-Match', etag);
  t.is(changed.status, 200);
  t.not(changed.get('etag'), etag);
});
