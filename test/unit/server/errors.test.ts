import test from 'ava';
import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { errorHandler } from '../../../src/server/middleware/errors.js';

/** An app whose one route fails with `err`; the errors middleware answers. */
function failingWith(err: Error): express.Express {
  const app = express();
  app.get('/x', () => {
    throw err;
  });
  app.use(errorHandler(pino({ level: 'silent' })));
  return app;
}

test('a reset on the database connection while the caller is still there is a 503, not a dropped socket', async (t) => {
  // PostgreSQL stopping under a query: pg reports the reset of its own socket.
  for (const code of ['ECONNRESET', 'EPIPE']) {
    const res = await request(failingWith(Object.assign(new Error('read ' + code), { code }))).get(
      '/x',
    );
    t.is(res.status, 503, code);
    t.regex(res.get('retry-after') ?? '', /^\d+$/);
    t.is((res.body as { error: { code: string } }).error.code, 'unavailable');
  }
});

test('PostgreSQL shutting down or refusing connections is a 503 with Retry-After', async (t) => {
  for (const err of [
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    }),
    new Error('Connection terminated unexpectedly'),
  ]) {
    const res = await request(failingWith(err)).get('/x');
    t.is(res.status, 503, err.message);
    t.regex(res.get('retry-after') ?? '', /^\d+$/);
  }
});

test('an unexpected error is a 500 that carries no detail', async (t) => {
  const res = await request(failingWith(new Error('secret detail'))).get('/x');
  t.is(res.status, 500);
  t.notRegex(res.text, /secret detail/);
});
