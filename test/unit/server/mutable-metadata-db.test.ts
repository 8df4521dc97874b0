import type { IncomingMessage, ServerResponse } from 'node:http';
import test from 'ava';
import knexFactory from 'knex';
import { MutableMetadata } from '../../../src/server/mutable-metadata.js';
import { DatabaseMetadataStore } from '../../../src/signing/tuf-store-db.js';
import { up } from '../../../src/storage/migrations/018-tuf-metadata.js';

/**
 * timestamp.json from the database store's rows (issue 15 item 2): 503 while the rows cannot be
 * read, then served as soon as they can (a failed first poll is not kept), 304 while unchanged,
 * and a new row is served after the next poll.
 */

interface Answer {
  status: number;
  headers: Record<string, string | number>;
  body: string;
}

function get(metadata: MutableMetadata, ifNoneMatch?: string): Promise<Answer> {
  return new Promise((resolve) => {
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
        resolve(answer);
      },
    } as unknown as ServerResponse;
    metadata.serve(req, res, 'timestamp.json');
  });
}

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
  t.is((await get(metadata)).status, 503, 'no table yet: the first poll failed');

  await up(db);
  await store.write('timestamp.json', timestamp(1));
  const first = await get(metadata);
  t.is(first.status, 200, 'the failed first poll was tried again');
  t.is(first.body, timestamp(1).toString());
  const etag = String(first.headers['ETag']);
  t.is((await get(metadata, etag)).status, 304);

  await store.write('timestamp.json', timestamp(2));
  t.is((await get(metadata, etag)).status, 200, 'this node wrote it: served at once');
  t.is((await get(metadata)).body, timestamp(2).toString());
});
