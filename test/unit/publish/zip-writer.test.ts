import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import ZipStream from 'zip-stream';
import { zipBytes, type ZipEntry } from '../../../src/publish/zip-writer.js';
import { random } from '../../helpers/mutate.js';

interface Content {
  name: string;
  mode: number;
  bytes: Buffer;
}

/** What zip-stream 7 (archiver's zip engine) wrote with the options `upcat package` gave it. */
async function reference(contents: readonly Content[], date: Date): Promise<Buffer> {
  const archive = new ZipStream({
    comment: '',
    namePrependSlash: false,
    store: false,
    forceLocalTime: false,
    forceZip64: false,
    zlib: { level: 6 },
  });
  const done = collect(archive);
  for (const [i, c] of contents.entries()) {
    // The manifest went in as a buffer, every file as a stream.
    const source = i === 0 ? c.bytes : Readable.from(chunks(c.bytes));
    await new Promise<void>((resolve, reject) => {
      archive.entry(source, { name: c.name, date, mode: c.mode }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }
  archive.finalize();
  return done;
}

async function* chunks(bytes: Buffer): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += 65536) yield bytes.subarray(at, at + 65536);
}

async function collect(source: AsyncIterable<Buffer> | Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(
    source,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        parts.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(parts);
}

const ours = (contents: readonly Content[], date: Date): Promise<Buffer> =>
  collect(
    zipBytes(
      contents.map((c, i): ZipEntry => ({
        name: c.name,
        mode: c.mode,
        source: i === 0 ? c.bytes : chunks(c.bytes),
      })),
      date,
    ),
  );

const NAMES = ['README.txt', 'bin/client', 'lib/ü.dll', 'a/b/c/deep.bin', 'empty', '日本/語.txt'];

/** A build of a few files: empty, short, compressible, random, over one read chunk. */
function build(next: () => number): Content[] {
  const contents: Content[] = [
    { name: 'upcat-package.json', mode: 0o644, bytes: Buffer.from('{"format":1}\n') },
  ];
  for (const name of NAMES) {
    if (next() < 0.3) continue;
    const kind = Math.floor(next() * 4);
    const size = Math.floor(next() * 300_000);
    const bytes =
      kind === 0
        ? Buffer.alloc(0)
        : kind === 1
          ? Buffer.from('x'.repeat(size % 100))
          : kind === 2
            ? Buffer.from('hello world line\n'.repeat(size / 17))
            : randomBytes(size);
    contents.push({ name, mode: next() < 0.5 ? 0o755 : 0o644, bytes });
  }
  return contents;
}

test('the same bytes as zip-stream, for builds of every kind of file', async (t) => {
  const next = random(7);
  const date = new Date(Date.UTC(1980, 0, 1));
  for (let i = 0; i < 12; i++) {
    const contents = build(next);
    t.deepEqual(await ours(contents, date), await reference(contents, date), `build ${i}`);
  }
});

test('the same DOS times as zip-stream, odd seconds and clamped years included', async (t) => {
  const contents = build(random(3));
  for (const iso of ['2026-12-04T10:07:41Z', '1979-06-01T00:00:00Z', '2050-01-01T00:00:00Z']) {
    const date = new Date(iso);
    t.deepEqual(await ours(contents, date), await reference(contents, date), iso);
  }
});

test('a source that fails fails the zip, and is closed', async (t) => {
  let closed = false;
  async function* failing(): AsyncGenerator<Buffer> {
    try {
      yield Buffer.from('first');
      throw new Error('the file changed');
    } finally {
      closed = true;
    }
  }
  const entries: ZipEntry[] = [
    { name: 'a', mode: 0o644, source: Buffer.from('a') },
    { name: 'b', mode: 0o644, source: failing() },
  ];
  await t.throwsAsync(collect(zipBytes(entries, new Date())), { message: 'the file changed' });
  t.true(closed);
});
