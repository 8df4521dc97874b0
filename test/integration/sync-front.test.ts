import type { ExecutionContext } from 'ava';
import { converse } from '../helpers/raw-http.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { deployOne, eventually, registered, serving, sync } from '../helpers/sync-server.js';

/**
 * The front answers a sync that the sync fast path answers from memory on the connection itself
 * (src/server/sync-answer.ts, issue 16). Each answer it gives must be, byte for byte (Date aside),
 * what node:http's path gives for the same request on the same server: that one is reached by
 * sending another request first on the connection, after which node:http owns it. Anything the
 * fast path leaves to the database (a blocked client, a wrong secret, other hardware) must be
 * left to node:http, from the first request after the change.
 */

const HEALTHZ = 'GET /healthz HTTP/1.1\r\nHost: site\r\n\r\n';

function syncRequest(secret: string, anchor: string | undefined, hardwareId?: string): string {
  const q = anchor === undefined ? '' : `?anchor=${anchor}`;
  const hw = hardwareId === undefined ? '' : `Upcat-Hardware-Id: ${hardwareId}\r\n`;
  return `GET /v1/sync${q} HTTP/1.1\r\nHost: site\r\nAuthorization: Bearer ${secret}\r\n${hw}\r\n`;
}

/** What /metrics says the front answered for a route (upcat_front_answers_total). */
async function frontAnswers(url: string, route: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = new RegExp(
    `^upcat_front_answers_total\\{route="${route.replace(/[/:.]/g, '\\$&')}"\\} (\\d+)$`,
    'm',
  );
  return Number(line.exec(text)?.[1] ?? NaN);
}

/** The request answered by the front (first on its connection) and by node:http (after another). */
async function bothWays(port: number, request: string): Promise<{ front: string; node: string }> {
  const [front] = await converse(port, request, 1);
  const [, node] = await converse(port, HEALTHZ + request, 2);
  return { front: front ?? '', node: node ?? '' };
}

/** The one answer to `request`, alone on a new connection. */
async function answerTo(port: number, request: string): Promise<string> {
  return (await converse(port, request, 1))[0] ?? '';
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function headAndBody(answer: string): { head: string; body: string } {
  const at = answer.indexOf('\r\n\r\n');
  return { head: answer.slice(0, at), body: answer.slice(at + 4) };
}

async function sealerLoaded(t: ExecutionContext, loaded: () => unknown): Promise<void> {
  t.truthy(
    await eventually(
      async () => loaded(),
      (s) => s !== undefined,
    ),
  );
}

dbTest(
  'front: a nothing-new sync first on a connection gets the bytes node:http gives, and is counted as memory',
  async (t, ctx) => {
    const { server, url, site } = await serving(ctx, 60_000);
    try {
      const secret = await registered(url, { hardwareId: 'hw-front-1' });
      const first = await sync(url, secret);
      t.is(first.status, 200);
      await sealerLoaded(t, () => site.sync.sealerIfLoaded());
      const request = syncRequest(secret, first.anchor, 'hw-front-1');
      const before = await frontAnswers(url, '/v1/sync');
      const hits = site.syncFast.hits;
      const { front, node } = await bothWays(portOf(url), request);
      t.regex(front, /^HTTP\/1\.1 304 Not Modified\r\nCache-Control: no-store\r\nDate: -\r\n/);
      t.is(front, node);
      t.is(await frontAnswers(url, '/v1/sync'), before + 1, 'the front answered one of the two');
      t.is(site.syncFast.hits, hits + 2, 'both from memory');
      // Three syncs pipelined in one read, then a check of another kind: the front answers the
      // three, node:http the rest.
      const three = await converse(portOf(url), request + request + request + HEALTHZ, 4);
      t.is(three.length, 4);
      t.deepEqual(three.slice(0, 3), [node, node, node]);
      t.regex(three[3] ?? '', /^HTTP\/1\.1 200 OK\r\n/);
      t.is(await frontAnswers(url, '/v1/sync'), before + 4);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      t.regex(metrics, /^upcat_syncs_total\{result="not_modified",path="memory"\} [1-9]\d*$/m);
    } finally {
      await server.close();
    }
  },
);

dbTest(
  'front: a new policy from the shared cache is answered 200 with node:http’s fields and a body that verifies',
  async (t, ctx) => {
    const { server, url, site } = await serving(ctx, 60_000);
    try {
      const a = await registered(url, { hardwareId: 'hw-front-a' });
      const b = await registered(url, { hardwareId: 'hw-front-b' });
      const anchorA = (await sync(url, a)).anchor;
      const anchorB = (await sync(url, b)).anchor;
      await sealerLoaded(t, () => site.sync.sealerIfLoaded());
      const updateId = await deployOne(site, 'front-patch');
      // The first of the group fills the policy cache (through node:http, whichever path).
      const [, node] = await converse(portOf(url), HEALTHZ + syncRequest(a, anchorA), 2);
      const policyHits = site.syncFast.policyHits;
      const before = await frontAnswers(url, '/v1/sync');
      const front = await answerTo(portOf(url), syncRequest(b, anchorB));
      t.is(await frontAnswers(url, '/v1/sync'), before + 1);
      t.is(site.syncFast.policyHits, policyHits + 1, 'answered from the policy cache');
      const [f, n] = [headAndBody(front), headAndBody(node ?? '')];
      // Same fields in the same order; only the length of the body may differ (another client).
      const shape = (head: string): string =>
        head.replace(/Content-Length: \d+/, 'Content-Length: n');
      t.is(shape(f.head), shape(n.head));
      t.regex(
        f.head,
        /^HTTP\/1\.1 200 OK\r\nCache-Control: no-store\r\nContent-Type: application\/json; charset=utf-8\r\nContent-Length: \d+\r\nDate: -\r\nConnection: keep-alive\r\n/,
      );
      t.is(Number(/Content-Length: (\d+)/.exec(f.head)?.[1]), Buffer.byteLength(f.body, 'latin1'));
      const body = JSON.parse(f.body) as {
        anchor: string;
        policy: { signed: { clientId: string; deployments: Array<{ updateId: string }> } };
      };
      t.is(body.policy.signed.clientId, b.slice(0, 36));
      t.deepEqual(
        body.policy.signed.deployments.map((d) => d.updateId),
        [updateId],
      );
      // Its anchor is current: the next sync is nothing new, from the front again.
      t.regex(await answerTo(portOf(url), syncRequest(b, body.anchor)), /^HTTP\/1\.1 304 /);
      t.is(await frontAnswers(url, '/v1/sync'), before + 2);
      // A catalog change that leaves their policy as it is: 304 with a fresher anchor, the same
      // fields from the front as from node:http (the anchors differ: each is sealed anew).
      await publishBytes(
        site,
        'payload-unrelated',
        fileManifest('unrelated.bin', { title: 'U', product: 'U', version: '1.0' }),
        'unrelated.bin',
      );
      const aNow = JSON.parse(headAndBody(node ?? '').body) as { anchor: string };
      const [, viaNode] = await converse(portOf(url), HEALTHZ + syncRequest(a, aNow.anchor), 2);
      const viaFront = await answerTo(portOf(url), syncRequest(b, body.anchor));
      const blank = (answer: string): string =>
        answer.replace(/X-Upcat-Anchor: \S+/, 'X-Upcat-Anchor: -');
      t.regex(
        viaFront,
        /^HTTP\/1\.1 304 Not Modified\r\nCache-Control: no-store\r\nX-Upcat-Anchor: \S/,
      );
      t.is(blank(viaFront), blank(viaNode ?? ''));
      t.is(await frontAnswers(url, '/v1/sync'), before + 3);
    } finally {
      await server.close();
    }
  },
);

dbTest(
  'front: what the fast path leaves to the database is left to node:http (blocked from the first request after the change, a wrong secret, other hardware)',
  async (t, ctx) => {
    const { server, url, site } = await serving(ctx, 60_000);
    try {
      const secret = await registered(url, { hardwareId: 'hw-front-2' });
      const { anchor } = await sync(url, secret);
      await sealerLoaded(t, () => site.sync.sealerIfLoaded());
      const port = portOf(url);
      t.regex(await answerTo(port, syncRequest(secret, anchor, 'hw-front-2')), /^HTTP\/1\.1 304 /);
      const before = await frontAnswers(url, '/v1/sync');
      // Another hardware ID: the database path answers (and flags the suspected clone).
      t.regex(await answerTo(port, syncRequest(secret, anchor, 'hw-other')), /^HTTP\/1\.1 304 /);
      // A wrong secret for this client: refused by node:http's path.
      const forged = `${secret.slice(0, 37)}${'A'.repeat(43)}`;
      t.regex(await answerTo(port, syncRequest(forged, anchor)), /^HTTP\/1\.1 401 /);
      // Blocked a moment ago, in this process: the very next sync is refused.
      await site.clients.block(secret.slice(0, 36), 'test');
      const blocked = await answerTo(port, syncRequest(secret, anchor, 'hw-front-2'));
      t.regex(blocked, /^HTTP\/1\.1 403 /);
      t.regex(blocked, /client_blocked/);
      t.is(await frontAnswers(url, '/v1/sync'), before, 'none of these was the front’s');
    } finally {
      await server.close();
    }
  },
);
