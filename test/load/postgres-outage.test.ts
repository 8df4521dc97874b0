import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { openSite } from '../../src/app.js';
import { registration } from '../helpers/clients.js';
import { startPrivateCluster } from '../helpers/private-postgres.js';
import { startServe } from '../helpers/processes.js';
import { sharedSigningDir } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';

/**
 * PostgreSQL stopped and started again under load (issue 13 item 8): while it is down every
 * answer that needs it is a 503 with Retry-After (never a 500, never a hang), routes that do not
 * need it keep answering, and once it is back the same `upcat serve` process answers 200 again
 * without a restart. The cluster is private (helpers/private-postgres.ts); when it cannot be
 * started the test fails with the reason.
 */
test('PostgreSQL down under load: 503 + Retry-After, then recovery without a restart', async (t) => {
  t.timeout(240_000);
  const cluster = await startPrivateCluster();
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-outage-'));
  try {
    await cp(await sharedSigningDir(), path.join(home, 'signing'), { recursive: true });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      UPCAT_HOME: home,
      DATABASE_URL: cluster.url,
    };
    const site = await openSite({ home, env, logLevel: 'silent' });
    const admin = await tokenOf(site, 'admin');
    await site.close();

    const served = await startServe(env);
    try {
      const get = async (
        route: string,
        auth?: string,
      ): Promise<{ status: number; retryAfter: string | null; code?: string }> => {
        const res = await fetch(`${served.url}${route}`, {
          headers: auth === undefined ? {} : { authorization: `Bearer ${auth}` },
          signal: AbortSignal.timeout(20_000),
        });
        const text = await res.text();
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        return { status: res.status, retryAfter: res.headers.get('retry-after'), code };
      };

      const reg = await fetch(`${served.url}/v1/clients`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(registration()),
      });
      t.is(reg.status, 201);
      const client = (await reg.json()) as { clientId: string; secret: string };
      const approved = await fetch(`${served.url}/v1/clients/${client.clientId}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}` },
      });
      t.is(approved.status, 200);

      // Routes that need the database, as an agent, an operator and a monitor call them.
      const routes: Array<[string, string | undefined]> = [
        ['/healthz', undefined],
        ['/v1/clients', admin],
        ['/v1/reports/revisions', admin],
        ['/v1/sync', client.secret],
      ];
      for (const [route, auth] of routes) t.is((await get(route, auth)).status, 200, route);

      // Load: four callers in a loop, for the whole outage.
      const seen: Array<{
        phase: string;
        route: string;
        status: number;
        retryAfter: string | null;
      }> = [];
      let phase = 'before';
      let running = true;
      const loops = routes.map(async ([route, auth]) => {
        while (running) {
          const r = await get(route, auth).catch((err: unknown) => ({
            status: -1,
            // undici's "fetch failed" says nothing; its cause names the socket error.
            retryAfter: `${String(err)} (${String((err as { cause?: unknown }).cause)})`,
          }));
          seen.push({ phase, route, status: r.status, retryAfter: r.retryAfter });
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      });

      await new Promise((resolve) => setTimeout(resolve, 500));
      await cluster.stop();
      phase = 'down';
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      phase = 'restarting';
      await cluster.start();
      phase = 'up';
      // The pool reconnects by itself: /healthz answers 200 again within a bounded time.
      const deadline = Date.now() + 60_000;
      let back = false;
      while (!back && Date.now() < deadline) {
        back = (await get('/healthz')).status === 200;
        if (!back) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      running = false;
      await Promise.all(loops);
      // A dropped connection is explained by the server's own log: show its warnings.
      if (seen.some((s) => s.status === -1))
        t.log(
          served
            .log()
            .split('\n')
            .filter((l) => !l.includes('database unavailable') && !l.includes('ECONNREFUSED'))
            .slice(-30)
            .join('\n'),
        );
      t.true(back, 'the server answers again once PostgreSQL is back');

      const down = seen.filter((s) => s.phase === 'down');
      t.true(down.length > 10, `requests kept coming during the outage (${down.length})`);
      const unavailable = down.filter((s) => s.status === 503);
      t.true(unavailable.length > 0, 'the outage was seen as 503');
      for (const s of seen) {
        t.not(s.status, -1, `${s.route} (${s.phase}) got an answer: ${s.retryAfter ?? ''}`);
        t.true(s.status < 500 || s.status === 503, `${s.route} (${s.phase}) answered ${s.status}`);
        if (s.status === 503)
          t.regex(s.retryAfter ?? '', /^\d+$/, `${s.route} 503 carries Retry-After`);
      }
      for (const [route, auth] of routes) t.is((await get(route, auth)).status, 200, route);
      const byStatus = new Map<number, number>();
      for (const s of seen) byStatus.set(s.status, (byStatus.get(s.status) ?? 0) + 1);
      t.log(`answers over the outage: ${JSON.stringify(Object.fromEntries(byStatus))}`);
    } finally {
      await served.stop();
    }
  } finally {
    await cluster.destroy();
    await rm(home, { recursive: true, force: true });
  }
});
