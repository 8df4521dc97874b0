import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { startServe } from '../helpers/processes.js';
import { dbTestSerial } from '../helpers/site.js';

/**
 * `upcat serve` killed (SIGKILL) while clients sync (issue 13 item 8; kills during publish are in
 * test/e2e/crash.test.ts, during downloads in test/e2e/agent-journey.test.ts, during gc in
 * test/e2e/gc-kill.test.ts). Syncs in flight fail at the socket, never with a wrong answer; the
 * restarted server on the same port answers every client 200 again with its secret unchanged.
 */
const CLIENTS = 8;
const ROUNDS = 3;

dbTestSerial('server killed during syncs, restarted: every client syncs again', async (t, ctx) => {
  t.timeout(300_000);
  ctx.site.config.site.approval = 'auto-all';
  await publishBytes(ctx.site, 'payload', fileManifest('a.bin'), 'a.bin');
  const app = createApp(ctx.site);
  const secrets: string[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const res = await register(app, registration({ hardwareId: `hw-k${i}`, name: `k${i}` }));
    t.is(res.status, 201);
    secrets.push(res.body.secret);
  }
  t.is(
    (await request(app).get('/v1/sync').set('Authorization', `Bearer ${secrets[0]}`)).status,
    200,
  );

  let served = await startServe(ctx.env);
  const port = served.port;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const statuses: number[] = [];
      let running = true;
      const loops = secrets.map(async (secret) => {
        while (running) {
          const status = await fetch(`${served.url}/v1/sync`, {
            headers: { authorization: `Bearer ${secret}` },
            signal: AbortSignal.timeout(20_000),
          })
            .then(async (r) => (await r.arrayBuffer(), r.status))
            .catch(() => 0); // cut by the kill
          statuses.push(status);
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 700));
      await served.kill();
      running = false;
      await Promise.all(loops);
      t.deepEqual(
        statuses.filter((s) => s !== 200 && s !== 304 && s !== 0),
        [],
        `round ${round}: a sync either succeeds or is cut, never a wrong answer`,
      );
      t.true(statuses.includes(200), `round ${round}: syncs were running when the server died`);
      served = await startServe(ctx.env, port);
      for (const secret of secrets) {
        const res = await fetch(`${served.url}/v1/sync`, {
          headers: { authorization: `Bearer ${secret}` },
          signal: AbortSignal.timeout(20_000),
        });
        t.is(res.status, 200, `round ${round}: a client syncs after the restart`);
      }
    }
  } finally {
    await served.stop();
  }
});
