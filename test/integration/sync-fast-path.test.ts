import { openSite } from '../../src/app.js';
import { startServer } from '../../src/server/serve.js';
import { createEnrollmentToken } from '../../src/site/enrollment.js';
import { registration } from '../helpers/clients.js';
import { dbTest, dbTestSerial } from '../helpers/site.js';
import { deployOne, eventually, registered, serving, sync } from '../helpers/sync-server.js';

/**
 * The in-memory nothing-new sync (src/sync/fast-path.ts) against a real server: it must answer
 * what the database path would, and forget a client the moment a change makes it wrong, whether
 * the change comes from this process or from another one (here: a second site handle on the
 * same database, whose changes reach the server only through the polled change counter).
 */

dbTest(
  'fast path: a current anchor is answered from memory, as the database path would',
  async (t, ctx) => {
    const { server, url, site } = await serving(ctx);
    try {
      const secret = await registered(url);
      const first = await sync(url, secret);
      t.is(first.status, 200);
      t.is(site.syncFast.hits, 0, 'the first sync goes through the database');
      t.is((await sync(url, secret, first.anchor)).status, 304);
      t.is((await sync(url, secret, first.anchor)).status, 304);
      t.true(site.syncFast.hits >= 1, 'a repeated nothing-new sync is answered from memory');
      // A wrong secret for a remembered client is not answered from memory, and is refused.
      const forged = `${secret.slice(0, 37)}${'A'.repeat(43)}`;
      const hits = site.syncFast.hits;
      t.is((await sync(url, forged, first.anchor)).code, 'unauthorized');
      t.is(site.syncFast.hits, hits);
      // A tampered anchor falls through to the full sync, never an error.
      const tampered = `${first.anchor?.slice(0, -2) ?? ''}xx`;
      t.is((await sync(url, secret, tampered)).status, 200);
    } finally {
      await server.close();
    }
  },
);

dbTest(
  'fast path: a nothing-new sync answered from memory records the contact once it is due',
  async (t, ctx) => {
    const first = await serving(ctx);
    let secret: string;
    let anchor: string | undefined;
    try {
      secret = await registered(first.url, { hardwareId: 'hw-contact' });
      anchor = (await sync(first.url, secret)).anchor;
    } finally {
      await first.server.close();
    }
    const clientId = secret.slice(0, 36);
    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    const site = await openSite({ home: ctx.home, env: ctx.env, logLevel: 'silent' });
    // An old contact, loaded as such by the next server: its first sync is due to record one.
    await site.db('clients').where({ client_id: clientId }).update({ last_contact: hourAgo });
    const server = await startServer(site, { host: '127.0.0.1', port: 0 });
    const lastContact = async (): Promise<string> =>
      (
        (await site.db('clients').where({ client_id: clientId }).first('last_contact')) as {
          last_contact: string;
        }
      ).last_contact;
    try {
      await eventually(
        async () => site.syncFast.size,
        (n) => n >= 1,
      );
      await eventually(
        async () => site.sync.sealerIfLoaded(),
        (s) => s !== undefined,
      );
      t.is((await sync(server.url, secret, anchor)).status, 304);
      t.is(site.syncFast.hits, 1, 'answered from memory');
      await site.contacts.flush();
      const written = await lastContact();
      t.true(written > hourAgo, 'the contact was written');
      t.is((await sync(server.url, secret, anchor)).status, 304);
      await site.contacts.flush();
      t.is(await lastContact(), written, 'not again within the interval');
    } finally {
      await server.close();
      await site.close();
    }
  },
);

dbTest('fast path: a change in this process is seen by the very next sync', async (t, ctx) => {
  // No periodic poll within the test: only the in-process notification can make it right.
  const { server, url, site } = await serving(ctx, 60_000);
  try {
    const secret = await registered(url);
    const clientId = secret.slice(0, 36);
    const { anchor } = await sync(url, secret);
    t.is((await sync(url, secret, anchor)).status, 304);
    t.is((await sync(url, secret, anchor)).status, 304);
    // A new deployment moves the catalog version: the old anchor is no longer current.
    await deployOne(site, 'a');
    const after = await sync(url, secret, anchor);
    t.is(after.status, 200, 'a deployment approved a moment ago is delivered');
    t.is((await sync(url, secret, after.anchor)).status, 304);
    t.is((await sync(url, secret, after.anchor)).status, 304);
    // Blocking is seen at once.
    await site.clients.block(clientId, 'test');
    t.is((await sync(url, secret, after.anchor)).code, 'client_blocked');
    await site.clients.unblock(clientId, 'test');
    t.not((await sync(url, secret, after.anchor)).code, 'client_blocked');
  } finally {
    await server.close();
  }
});

dbTest('fast path: a change made by another process is seen within a poll', async (t, ctx) => {
  const { server, url } = await serving(ctx);
  const other = await openSite({ home: ctx.home, env: ctx.env, logLevel: 'silent' });
  try {
    const secret = await registered(url, { hardwareId: 'hw-x1' });
    const clientId = secret.slice(0, 36);
    const { anchor } = await sync(url, secret);
    t.is((await sync(url, secret, anchor)).status, 304);
    t.is((await sync(url, secret, anchor)).status, 304);
    // Another process deploys: within a poll the anchor is stale and the deployment arrives.
    await deployOne(other, 'b');
    const delivered = await eventually(
      () => sync(url, secret, anchor),
      (r) => r.status === 200,
    );
    t.is(delivered.status, 200);
    t.is((await sync(url, secret, delivered.anchor)).status, 304);
    // Another process blocks the client: within a poll it is refused.
    await other.clients.block(clientId, 'test');
    const refused = await eventually(
      () => sync(url, secret, delivered.anchor),
      (r) => r.code === 'client_blocked',
    );
    t.is(refused.code, 'client_blocked');
    // Another registration of the same machine replaces the record: the old secret stops working.
    await other.clients.unblock(clientId, 'test');
    const fresh = await eventually(
      () => sync(url, secret, delivered.anchor),
      (r) => r.status === 304 || r.status === 200,
    );
    t.true(fresh.status === 304 || fresh.status === 200);
    // (An approved machine is replaced only by a registration that proves it: an enrollment token.)
    const { token } = await createEnrollmentToken(other.db, { name: 'lab', actor: 'test' });
    await other.registration.register(
      registration({ hardwareId: 'hw-x1', enrollmentToken: token }),
      {},
    );
    const replaced = await eventually(
      () => sync(url, secret, delivered.anchor),
      (r) => r.code === 'client_replaced',
    );
    t.is(replaced.code, 'client_replaced');
  } finally {
    await other.close();
    await server.close();
  }
});

dbTest(
  'change counter: moves on the facts a server caches, not on last contact',
  async (t, ctx) => {
    const { site } = ctx;
    site.config.site.approval = 'auto-all';
    const r = await site.registration.register(registration({ hardwareId: 'hw-c1' }), {});
    const counter = async (): Promise<number> => {
      const row = (await site.db('change_counters').where({ name: 'clients' }).first('value')) as {
        value: number | string;
      };
      return Number(row.value);
    };
    const start = await counter();
    await site
      .db('clients')
      .where({ client_id: r.clientId })
      .update({ last_contact: new Date().toISOString() });
    t.is(await counter(), start, 'last_contact is written constantly and caches nothing');
    await site.clients.block(r.clientId, 'test');
    t.true((await counter()) > start, 'blocking moves it');
    const mid = await counter();
    await site.db
      .transaction(async (trx) => {
        await trx('clients').where({ client_id: r.clientId }).update({ blocked: false });
        throw new Error('rolled back');
      })
      .catch(() => undefined);
    t.is(await counter(), mid, 'a rolled-back change does not move it');
  },
);

dbTest(
  'fast path: a server that starts loads its clients and answers from memory at once',
  async (t, ctx) => {
    const first = await serving(ctx);
    let secret: string;
    let anchor: string | undefined;
    let blockedSecret: string;
    try {
      secret = await registered(first.url, { hardwareId: 'hw-w1' });
      blockedSecret = await registered(first.url, { hardwareId: 'hw-w2' });
      anchor = (await sync(first.url, secret)).anchor;
      await first.site.clients.block(blockedSecret.slice(0, 36), 'test');
    } finally {
      await first.server.close();
    }
    // A new process: nothing in memory but what it loads at start.
    const site = await openSite({ home: ctx.home, env: ctx.env, logLevel: 'silent' });
    const server = await startServer(site, { host: '127.0.0.1', port: 0 });
    try {
      await eventually(
        async () => site.syncFast.size,
        (n) => n >= 1,
      );
      t.is(site.syncFast.size, 1, 'the blocked client is not loaded');
      // The keys are loaded as the server starts, not by the first sync (which would otherwise
      // take the database path, as would every sync arriving with it).
      await eventually(
        async () => site.sync.sealerIfLoaded(),
        (s) => s !== undefined,
      );
      t.is((await sync(server.url, secret, anchor)).status, 304);
      t.is(site.syncFast.hits, 1, 'answered from memory without a first database sync');
      t.is((await sync(server.url, blockedSecret)).code, 'client_blocked');
    } finally {
      await server.close();
      await site.close();
    }
  },
);

dbTest(
  'fast path: a hardware ID that is not the record’s takes the database path and flags the clone',
  async (t, ctx) => {
    const { server, url, site } = await serving(ctx);
    try {
      const secret = await registered(url, { hardwareId: 'hw-f1' });
      const clientId = secret.slice(0, 36);
      const as = (hardwareId: string, anchor?: string) =>
        fetch(
          `${url}/v1/sync${anchor === undefined ? '' : `?anchor=${encodeURIComponent(anchor)}`}`,
          {
            headers: { authorization: `Bearer ${secret}`, 'upcat-hardware-id': hardwareId },
          },
        );
      const first = (await (await as('hw-f1')).json()) as { anchor: string };
      t.is((await as('hw-f1', first.anchor)).status, 304);
      t.is((await as('hw-f1', first.anchor)).status, 304);
      const hits = site.syncFast.hits;
      t.true(hits >= 1, 'its own hardware ID is answered from memory');
      t.false((await site.clients.get(clientId)).cloneSuspected);

      const copy = await as('hw-copy', first.anchor);
      t.is(copy.status, 304, 'still answered');
      t.is(site.syncFast.hits, hits, 'not from memory: the clone check needs the database path');
      t.true((await site.clients.get(clientId)).cloneSuspected);
    } finally {
      await server.close();
    }
  },
);

// Serial: it moves the process's clock (Date.now) for a moment, which concurrent tests would see.
dbTestSerial(
  'fast path: a remembered anchor answers only for its exact text, its catalog version and within its lifetime',
  async (t, ctx) => {
    const { server, url, site } = await serving(ctx);
    const raw = (query: string) =>
      fetch(`${url}/v1/sync?${query}`, { headers: { authorization: `Bearer ${secret}` } });
    const secret = await registered(url);
    const realNow = Date.now;
    try {
      const { anchor } = await sync(url, secret);
      if (anchor === undefined) throw new Error('no anchor');
      t.is((await sync(url, secret, anchor)).status, 304, 'opened, then remembered');
      const hits = site.syncFast.hits;
      t.is((await sync(url, secret, anchor)).status, 304, 'the same text: remembered');
      t.is(site.syncFast.hits, hits + 1);
      // The same anchor spelled with escapes decodes to the same text (the general parser).
      t.is((await raw(`anchor=${anchor.replace('.', '%2E')}`)).status, 304);
      t.is((await raw(`x=1&anchor=${anchor}`)).status, 304);
      // One character changed anywhere is another text: opened, refused, a full sync.
      const middle = Math.floor(anchor.length / 2);
      const flipped = anchor[middle] === 'A' ? 'B' : 'A';
      const altered = anchor.slice(0, middle) + flipped + anchor.slice(middle + 1);
      t.is((await sync(url, secret, altered)).status, 200);
      t.is((await sync(url, secret, anchor)).status, 304, 'the genuine one still is current');
      // Eight days later the remembered anchor has expired (seven days): a full sync.
      Date.now = () => realNow() + 8 * 86_400_000;
      const expired = await sync(url, secret, anchor);
      Date.now = realNow;
      t.is(expired.status, 200, 'an expired anchor is not current, remembered or not');
      // A deployment moves the catalog version: the remembered anchor is stale.
      // (The anchor that answer carried was issued eight days ahead: not one to use now.)
      const fresh = (await sync(url, secret)).anchor;
      t.is((await sync(url, secret, fresh)).status, 304);
      const before = site.changes.current()?.catalogVersion;
      await deployOne(site, 'memo');
      // Once the watcher has read the new version, the fast path answers again: from memory,
      // where only the remembered catalog version tells that the anchor is stale.
      await eventually(
        async () => site.changes.current()?.catalogVersion,
        (v) => v !== undefined && v !== before,
      );
      const hitsBefore = site.syncFast.hits;
      t.is((await sync(url, secret, fresh)).status, 200, 'stale after a deployment');
      t.is(site.syncFast.hits, hitsBefore, 'no 304 from memory');
    } finally {
      Date.now = realNow;
      await server.close();
    }
  },
);
