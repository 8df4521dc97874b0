/**
 * Scans answered from memory (issue 12's benchmark): the envelope memo and the remembered
 * computers must never answer with stale facts. With the site's change watcher running, as
 * under `upcat serve`: blocking, a new deployment and a change made by another process (a
 * write this process did not make, seen at the next poll) each reach the very next scan.
 */
import type { Site } from '../../src/app.js';
import { loadAnchorKey } from '../../src/sync/site-keys.js';
import { envelopes } from '../../src/windows/wusp/dispatch.js';
import { wuspServiceOf } from '../../src/windows/wusp/index.js';
import { publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import {
  deployToAll,
  serve,
  windowsManifest,
  WuaFault,
  WuaSimulator,
} from '../helpers/wua-simulator.js';

async function clientIdOf(site: Site, susClientId: string): Promise<string> {
  const row = (await site
    .db('wusp_computers')
    .where({ sus_client_id: susClientId })
    .first('client_id')) as { client_id: string };
  return row.client_id;
}

const publish = (site: Site, version: string) =>
  publishBytes(
    site,
    Buffer.from(`MZ installer ${version}`),
    windowsManifest({ version, title: `Contoso Client ${version}` }),
    'setup.exe',
  );

dbTest(
  'MS-WUSP scans from memory stay exact: blocking, a new deployment and another process’s change reach the next scan',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    await site.changes.start(60_000); // polled by hand below, so the test decides when
    t.teardown(() => site.changes.stop());
    const first = await publish(site, '1.0');
    await deployToAll(site, first.updateId);
    const wusp = await wuspServiceOf(site, () => loadAnchorKey(site.config.dirs.signing));
    const server = await serve(site);
    t.teardown(() => server.close());

    const a = new WuaSimulator(server.url);
    const b = new WuaSimulator(server.url);
    for (const w of [a, b]) {
      await w.connect();
      await w.syncAll();
      t.deepEqual(
        w.actionable().map((u) => u.updateId),
        [first.updateId],
      );
    }
    // Nothing new, twice each: the second computer's identical scan reuses the first one's tree,
    // and both records come from memory.
    const hits = { envelopes: envelopes.hits, computers: wusp.memory.hits };
    for (const w of [a, b, a, b]) t.is((await w.syncAll()).rounds.length, 0);
    t.true(envelopes.hits > hits.envelopes, 'identical scans read from the kept envelope');
    t.true(wusp.memory.hits > hits.computers, 'records read from memory');

    // A deployment made here reaches the next scan; the records stay in memory (patch day).
    const second = await publish(site, '2.0');
    await deployToAll(site, second.updateId);
    const before = wusp.memory.hits;
    await a.syncAll();
    t.true(a.actionable().some((u) => u.updateId === second.updateId));
    t.true(wusp.memory.hits > before, 'a catalog change keeps the records');

    // A server that starts reads every registered computer into memory.
    wusp.memory.clear();
    t.is(await wusp.warmComputers(), 2);
    const warmed = wusp.memory.hits;
    await b.syncOnce();
    t.is(wusp.memory.hits, warmed + 1);

    // Blocked here: refused from the next call on.
    await site.clients.block(await clientIdOf(site, a.susClientId), 'test');
    const refused = await t.throwsAsync(a.syncOnce(), { instanceOf: WuaFault });
    t.is(refused?.errorCode, 'InternalServerError');

    // Blocked by another process (a write this one did not note): refused once a poll saw it.
    await b.syncAll();
    await site
      .db('clients')
      .where({ client_id: await clientIdOf(site, b.susClientId) })
      .update({ blocked: true });
    await site.changes.poll();
    const elsewhere = await t.throwsAsync(b.syncOnce(), { instanceOf: WuaFault });
    t.is(elsewhere?.errorCode, 'InternalServerError');
  },
);
