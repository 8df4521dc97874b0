/**
 * Issue 11 item 2: payloads fetched from their OriginUri, against an HTTP server on 127.0.0.1
 * (the machine has no internet): size-limited to the catalog's Size, resumed with Range after a
 * dropped connection, the `.partial` deleted on failure.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { UpcatError } from '../../../src/errors.js';
import { fetchPayload } from '../../../src/publish/sdp/fetch.js';

const BODY = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));

interface Server {
  url: string;
  ranges: Array<string | undefined>;
  close(): Promise<void>;
}

/** Serves BODY; `mode` decides how each request goes. */
async function serve(mode: (attempt: number) => 'full' | 'drop' | 'long'): Promise<Server> {
  const ranges: Array<string | undefined> = [];
  const server = http.createServer((req, res) => {
    const attempt = ranges.length;
    ranges.push(req.headers.range);
    const how = mode(attempt);
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    if (how === 'long') {
      res.writeHead(200); // no Content-Length: the body runs past the Size
      res.end(Buffer.concat([BODY, Buffer.from('trailing bytes')]));
      return;
    }
    const part = BODY.subarray(from);
    res.writeHead(from > 0 ? 206 : 200, {
      'content-length': part.length,
      ...(from > 0 ? { 'content-range': `bytes ${from}-${BODY.length - 1}/${BODY.length}` } : {}),
    });
    if (how === 'drop') {
      // Half the body, then the connection is cut.
      res.write(part.subarray(0, Math.floor(part.length / 2)), () => res.socket?.destroy());
      return;
    }
    res.end(part);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/files/payload.exe`,
    ranges,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-fetch-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const options = (dir: string) => ({ dir, timeoutMs: 10_000, attempts: 4 });

test('a dropped connection is resumed with a Range request from the .partial', async (t) => {
  const server = await serve((attempt) => (attempt === 0 ? 'drop' : 'full'));
  try {
    await withDir(async (dir) => {
      const file = await fetchPayload(server.url, 'payload.exe', BODY.length, options(dir));
      t.true((await readFile(file)).equals(BODY));
      t.is(server.ranges[0], undefined);
      t.regex(server.ranges[1] ?? '', /^bytes=\d+-$/);
      t.true(Number(/\d+/.exec(server.ranges[1] ?? '')?.[0]) > 0, 'resumed past the start');
      t.deepEqual(await readdir(dir), ['payload.exe']);
    });
  } finally {
    await server.close();
  }
});

test('a .partial left by an earlier run is resumed', async (t) => {
  const server = await serve(() => 'full');
  try {
    await withDir(async (dir) => {
      await writeFile(path.join(dir, 'payload.exe.partial'), BODY.subarray(0, 1234));
      const file = await fetchPayload(server.url, 'payload.exe', BODY.length, options(dir));
      t.is(server.ranges[0], 'bytes=1234-');
      t.is(
        createHash('sha1')
          .update(await readFile(file))
          .digest('hex'),
        createHash('sha1').update(BODY).digest('hex'),
      );
    });
  } finally {
    await server.close();
  }
});

test('a body longer than the catalog Size is cut off and the .partial deleted', async (t) => {
  const server = await serve(() => 'long');
  try {
    await withDir(async (dir) => {
      const err = await t.throwsAsync(
        fetchPayload(server.url, 'payload.exe', BODY.length, options(dir)),
        {
          instanceOf: UpcatError,
        },
      );
      t.regex(err?.message ?? '', /more than the catalog's Size of 200000 bytes/);
      t.deepEqual(await readdir(dir), []);
      t.is(server.ranges.length, 1, 'not retried');
    });
  } finally {
    await server.close();
  }
});

test('a declared length past the Size is refused before the body is read', async (t) => {
  const server = await serve(() => 'full');
  try {
    await withDir(async (dir) => {
      const err = await t.throwsAsync(fetchPayload(server.url, 'payload.exe', 1000, options(dir)));
      t.regex(err?.message ?? '', /sends 200000 bytes; the catalog's Size is 1000/);
      t.deepEqual(await readdir(dir), []);
    });
  } finally {
    await server.close();
  }
});

test('a server that keeps dropping gives up after the attempts, leaving nothing', async (t) => {
  const server = await serve(() => 'drop');
  try {
    await withDir(async (dir) => {
      const err = await t.throwsAsync(
        fetchPayload(server.url, 'payload.exe', BODY.length, options(dir)),
      );
      t.regex(err?.message ?? '', /failed after 4 attempt/);
      t.is(server.ranges.length, 4);
      t.deepEqual(await readdir(dir), []);
    });
  } finally {
    await server.close();
  }
});

test('only http and https origins', async (t) => {
  await withDir(async (dir) => {
    await t.throwsAsync(fetchPayload('file:///etc/passwd', 'x', 10, options(dir)), {
      message: /not http or https/,
    });
  });
});
