import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

/**
 * Route modules share one router, so a parameter check registered by one (router.param) runs on
 * every route of the others with a parameter of that name. An account-name check on `:name` once
 * refused every payload signature at /content/:name, and agents could install nothing.
 */
dbTest('a payload and its signature are served beside the users routes', async (t, { site }) => {
  const app = createApp(site);
  const published = await publishBytes(site, 'payload bytes', fileManifest('tool.bin'));
  const sha256 = published.sha256;
  const payload = await request(app).get(`/content/${sha256}`);
  t.is(payload.status, 200);
  const signature = await request(app).get(`/content/${sha256}.p7s`);
  t.is(signature.status, 200, JSON.stringify(signature.body));
  // The users routes still check their own :name.
  const admin = await bearer(site, 'admin');
  const bad = await request(app).delete('/v1/users/NOT%20A%20NAME').set('authorization', admin);
  t.is(bad.status, 400);
  t.regex(JSON.stringify(bad.body), /name/);
});
