import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { fileManifest } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';
import { uploadForm } from '../helpers/upload.js';

/**
 * Manifest text that reaches a database column or an update XML document: a NUL byte is stored
 * by SQLite but refused by PostgreSQL, and no XML document can hold it, so it must be a 400
 * naming the field on both databases, with nothing stored.
 */
const cases: Array<{ field: string; over: Record<string, unknown> }> = [
  { field: 'description', over: { description: 'line one\u0000line two' } },
  {
    field: 'handler.arguments',
    over: { handler: { type: 'commandLine', program: 'tool.bin', arguments: '/quiet\u0007' } },
  },
  {
    field: 'handler.program',
    over: { handler: { type: 'commandLine', program: 'tool\u0000.bin' } },
  },
];

dbTest('manifest text with control characters is a 400 naming the field', async (t, { site }) => {
  const app = createApp(site);
  const token = await tokenOf(site, 'publish', 'pipeline');
  const before = await site.catalog.catalogVersion();
  for (const { field, over } of cases) {
    const form = uploadForm(fileManifest('tool.bin', over), 'payload');
    const res = await request(app)
      .post('/v1/updates')
      .set('Content-Type', form.contentType)
      .set('Authorization', `Bearer ${token}`)
      .send(form.body);
    t.is(res.status, 400, field);
    const error = (res.body as { error: { code: string; message: string } }).error;
    t.is(error.code, 'invalid_input', field);
    t.true(error.message.includes(field), `${field}: ${error.message}`);
  }
  t.is(await site.catalog.catalogVersion(), before, 'nothing was published');
  t.is(Number((await site.db('revisions').count({ n: '*' }))[0]?.['n']), 0);
});

dbTest('a multi-line description is kept as written', async (t, { site }) => {
  const app = createApp(site);
  const token = await tokenOf(site, 'publish', 'pipeline');
  const description = 'First line.\n\tIndented second line.\r\nThird.';
  const form = uploadForm(fileManifest('tool.bin', { description }), 'payload');
  const res = await request(app)
    .post('/v1/updates')
    .set('Content-Type', form.contentType)
    .set('Authorization', `Bearer ${token}`)
    .send(form.body);
  t.is(res.status, 201);
  const row = (await site.db('revisions').first('description')) as { description: string };
  t.is(row.description, description);
});
