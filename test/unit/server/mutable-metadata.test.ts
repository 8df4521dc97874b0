import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import test from 'ava';
import knexFactory from 'knex';
import { MutableMetadata } from '../../../src/server/mutable-metadata.js';
import { DatabaseMetadataStore } from '../../../src/signing/tuf-store-db.js';
import { up } from '../../../src/storage/migrations/018-tuf-metadata.js';

/**
 * timestamp.json is served from memory and re-checked on disk once per turn of the event loop
 * (issue 16): a new version renamed in is served from the next request read after the rename.
 * With the database store (issue 15 item 2): 503 while the rows cannot be read, then served as
 * soon as they can (a failed first poll is not kept), 304 while unchanged, a new row at once.
 */

interface Answer {
  status: number;
  headers: Record<string, string | number>;
  body: string;
}

/** A request answered through fake node:http objects; `done` is told when it ends. */
function request(
  metadata: MutableMetadata,
  ifNoneMatch: string | undefined,
  done: (answer: Answer) => void,
): Answer {
  const answer: Answer = { status: 0, headers: {}, body: '' };
  const req = {
    method: 'GET',
    headers: ifNoneMatch === undefined ? {} : { 'if-none-match': ifNoneMatch },
  } as unknown as IncomingMessage;
  const res = {
    writeHead(status: number, headers: Record<string, string | number>) {
      answer.status = status;
      answer.headers = headers;
    },
    end(body?: Buffer | string) {
      answer.body = body === undefined ? '' : body.toString();
      done(answer);
    },
  } as unknown as ServerResponse;
  metadata.serve(req, res, 'timestamp.json');
  return answer;
}

/** The files store answers within the call. */
function get(metadata: MutableMetadata, ifNoneMatch?: string): Answer {
  return request(metadata, ifNoneMatch, () => undefined);
}

/** The database store may first wait for its rows. */
function getLater(metadata: MutableMetadata, ifNoneMatch?: string): Promise<Answer> {
  return new Promise((resolve) => request(metadata, ifNoneMatch, resolve));
}

test('a renamed-in timestamp.json is served from the next turn on; 304 while it is unchanged', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-mutable-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'timestamp.json');
  await writeFile(file, '{"version":1}');
  const metadata = new MutableMetadata(dir);

  const first = get(metadata);
  t.is(first.status, 200);
  t.is(first.body, '{"version":1}');
  const etag = String(first.headers['ETag']);
  t.is(get(metadata, etag).status, 304);

  // As the repository writer does: a new file renamed over the old one.
  await writeFile(`${file}.tmp`, '{"version":2}');
  await rename(`${file}.tmp`, file);
  const second = get(metadata, etag);
  t.is(second.status, 200, 'the old ETag no longer matches');
  t.is(second.body, '{"version":2}');
  t.not(second.headers['ETag'], etag);
  t.is(get(metadata, String(second.headers['ETag'])).status, 304);

  // Within one turn the file is stat'ed once: requests read together share that look.
  await nextTurn();
  const etag2 = String(second.headers['ETag']);
  t.is(get(metadata, etag2).status, 304);
  await writeFile(`${file}.tmp`, '{"version":3}');
  await rename(`${file}.tmp`, file);
  await nextTurn();
  t.is(get(metadata, etag2).status, 200);

  await rm(file);
  await nextTurn();
  t.is(get(metadata).status, 404);
});

function timestamp(version: number): Buffer {
  return Buffer.from(JSON.stringify({ signed: { _type: 'timestamp', version }, signatures: [] }));
}

test('timestamp.json from rows: 503 until they can be read, then 200, 304, and the next version', async (t) => {
  const db = knexFactory({
    client: 'sqlite3',
    connection: { filename: ':memory:' },
    useNullAsDefault: true,
  });
  const store = new DatabaseMetadataStore(db, 60_000); // polls only when asked, here
  t.teardown(async () => {
    store.close();
    await db.destroy();
  });
  const metadata = new MutableMetadata(store);
  t.is((await getLater(metadata)).status, 503, 'no table yet: the first poll failed');

  await up(db);
  await store.write('timestamp.json', timestamp(1));
  const first = await getLater(metadata);
  t.is(first.status, 200, 'the failed first poll was tried again');
  t.is(first.body, timestamp(1).toString());
  const etag = String(first.headers['ETag']);
  t.is((await getLater(metadata, etag)).status, 304);

  await store.write('timestamp.json', timestamp(2));
  t.is((await getLater(metadata, etag)).status, 200, 'this node wrote it: served at once');
  t.is((await getLater(metadata)).body, timestamp(2).toString());
});
