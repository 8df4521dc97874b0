import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import test from 'ava';
import { MutableMetadata } from '../../../src/server/mutable-metadata.js';

/**
 * timestamp.json is served from memory and re-checked on disk once per turn of the event loop
 * (issue 16): a new version renamed in is served from the next request read after the rename.
 */

interface Answer {
  status: number;
  headers: Record<string, string | number>;
  body: string;
}

function get(metadata: MutableMetadata, ifNoneMatch?: string): Answer {
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
    },
  } as unknown as ServerResponse;
  metadata.serve(req, res, 'timestamp.json');
  return answer;
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
