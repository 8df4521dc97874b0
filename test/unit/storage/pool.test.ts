import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
import { BlobPool } from '../../../src/storage/blobs/pool.js';
import { hashWorkerRunning } from '../../../src/storage/blobs/slab-hasher.js';
import { SLAB_BYTES, StagingFile } from '../../../src/storage/blobs/staging-file.js';
import { UpcatError } from '../../../src/errors.js';

async function pool(): Promise<BlobPool> {
  const p = new BlobPool(await mkdtemp(path.join(os.tmpdir(), 'upcat-pool-')));
  await p.init();
  return p;
}

const chunks = (...parts: Buffer[]): Readable => Readable.from(parts);

test('stage hashes SHA-256 and SHA-1 in one pass; commit makes it addressable', async (t) => {
  const p = await pool();
  const a = randomBytes(3000);
  const b = randomBytes(5000);
  const whole = Buffer.concat([a, b]);
  const staged = await p.stage(chunks(a, b), 1 << 20);
  t.is(staged.sha256, createHash('sha256').update(whole).digest('hex'));
  t.is(staged.sha1, createHash('sha1').update(whole).digest('hex'));
  t.is(staged.size, 8000);
  t.is(await p.sizeOf(staged.sha256), undefined, 'not visible before commit');
  await staged.commit();
  t.deepEqual(await readFile(p.pathOf(staged.sha256)), whole);
  t.is(path.basename(path.dirname(p.pathOf(staged.sha256))), staged.sha256.slice(0, 2));
  t.true(await p.verify(staged.sha256));
  t.deepEqual(await readdir(path.join(p.root, 'tmp')), []);
});

test('identical content is stored once', async (t) => {
  const p = await pool();
  const data = Buffer.from('same bytes');
  const one = await p.stage(chunks(data), 100);
  await one.commit();
  const two = await p.stage(chunks(data), 100);
  await two.commit();
  t.is(one.sha256, two.sha256);
  const files = await readdir(path.join(p.root, 'pool'), { recursive: true });
  t.is(files.filter((f) => f.endsWith(one.sha256)).length, 1);
});

test('content over the limit is refused and its temporary file removed', async (t) => {
  const p = await pool();
  const err = await t.throwsAsync(() => p.stage(chunks(randomBytes(60), randomBytes(60)), 100), {
    instanceOf: UpcatError,
  });
  t.is(err?.code, 'too_large');
  t.deepEqual(await readdir(path.join(p.root, 'tmp')), []);
});

test('discard removes a staged file; verify notices a changed byte', async (t) => {
  const p = await pool();
  const staged = await p.stage(chunks(Buffer.from('discard me')), 100);
  await staged.discard();
  t.deepEqual(await readdir(path.join(p.root, 'tmp')), []);
  const kept = await p.stage(chunks(Buffer.from('keep me')), 100);
  await kept.commit();
  await writeFile(p.pathOf(kept.sha256), 'keep mE');
  t.false(await p.verify(kept.sha256));
  t.false(await p.verify('0'.repeat(64)));
});

test('a source that fails midway leaves nothing behind', async (t) => {
  const p = await pool();
  async function* failing(): AsyncGenerator<Buffer> {
    yield Buffer.from('partial');
    throw new Error('connection reset');
  }
  await t.throwsAsync(() => p.stage(failing(), 100), { message: 'connection reset' });
  t.deepEqual(await readdir(path.join(p.root, 'tmp')), []);
});

test('pathOf refuses anything but a SHA-256 digest', async (t) => {
  const p = await pool();
  t.throws(() => p.pathOf('../../etc/passwd'), { instanceOf: UpcatError });
});

/** Sizes around the O_DIRECT alignment (4 KiB) and the staging slab (4 MiB), and past 4 slabs. */
const SIZES = [1, 4095, 4096, 4097, SLAB_BYTES - 1, SLAB_BYTES, 5 * SLAB_BYTES + 12_345];

for (const [directIo, hashWorker] of [
  [true, false],
  [false, false],
  [true, true],
  [false, true],
]) {
  test(`staging (directIo ${directIo}, hashWorker ${hashWorker}) stores and hashes exactly the bytes, whatever the chunking`, async (t) => {
    const p = new BlobPool(await mkdtemp(path.join(os.tmpdir(), 'upcat-pool-')), {
      directIo,
      hashWorker,
    });
    await p.init();
    for (const size of SIZES) {
      const data = randomBytes(size);
      // Odd chunk sizes, and one chunk larger than a slab, as a stream read by 'data' events.
      const parts: Buffer[] = [];
      for (let at = 0, i = 0; at < size; i++) {
        const n = i === 2 ? SLAB_BYTES + 77 : 65_536 + i * 13;
        parts.push(data.subarray(at, at + n));
        at += n;
      }
      const staged = await p.stage(Readable.from(parts), size);
      t.is(staged.size, size);
      t.is(staged.sha256, createHash('sha256').update(data).digest('hex'));
      t.is(staged.sha1, createHash('sha1').update(data).digest('hex'));
      t.true((await readFile(staged.path)).equals(data), `${size} bytes`);
      await staged.discard();
    }
    t.deepEqual(await readdir(path.join(p.root, 'tmp')), []);
  });
}

// Serial tests run before the others: nothing else has started the worker yet.
test.serial('only a pool told to hash off the main thread starts the hash worker', async (t) => {
  const data = randomBytes(3 * SLAB_BYTES);
  const sha256 = createHash('sha256').update(data).digest('hex');
  const inline = await pool();
  t.is((await inline.stage(chunks(data), data.length)).sha256, sha256);
  t.false(hashWorkerRunning());
  const offThread = await pool();
  offThread.hashOffThread();
  // Less than a slab is still hashed inline: a worker round trip would cost more.
  await offThread.stage(chunks(data.subarray(0, SLAB_BYTES - 1)), SLAB_BYTES);
  t.false(hashWorkerRunning());
  t.is((await offThread.stage(chunks(data), data.length)).sha256, sha256);
  t.true(hashWorkerRunning());
});

test('StagingFile opens with O_DIRECT unless told not to', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-stage-'));
  const direct = await StagingFile.create(path.join(dir, 'a'), { direct: true, hashWorker: false });
  const buffered = await StagingFile.create(path.join(dir, 'b'), {
    direct: false,
    hashWorker: false,
  });
  // O_DIRECT is a Linux flag; elsewhere (or on a file system without it) staging is buffered.
  t.is(direct.isDirect, process.platform === 'linux');
  t.false(buffered.isDirect);
  direct.write(Buffer.from('hello'));
  t.like(await direct.finish(), {
    size: 5,
    sha256: createHash('sha256').update('hello').digest('hex'),
  });
  t.like(await buffered.finish(), { size: 0, sha1: createHash('sha1').digest('hex') });
  t.is(await readFile(path.join(dir, 'a'), 'utf8'), 'hello');
});

test('a stream that closes before its end fails the stage and leaves nothing', async (t) => {
  const p = await pool();
  const source = new Readable({ read: () => undefined });
  source.push(randomBytes(10_000));
  setTimeout(() => source.destroy(), 20);
  await t.throwsAsync(() => p.stage(source, 1 << 20), { message: /closed before its end/ });
  t.deepEqual(await readdir(path.join(p.root, 'tmp')), []);
});

test('the source is held back while the slabs are being written: it is never read far ahead', async (t) => {
  const p = await pool();
  const total = 96 * 1024 * 1024;
  const chunk = randomBytes(1024 * 1024);
  let produced = 0;
  const source = new Readable({
    highWaterMark: chunk.length,
    read() {
      produced += chunk.length;
      this.push(produced > total ? null : chunk);
    },
  });
  let maxAhead = 0;
  const tmp = path.join(p.root, 'tmp');
  const timer = setInterval(() => {
    void (async () => {
      for (const name of await readdir(tmp)) {
        const written = await stat(path.join(tmp, name)).then(
          (s) => s.size,
          () => produced,
        );
        maxAhead = Math.max(maxAhead, produced - written);
      }
    })();
  }, 2);
  const staged = await p.stage(source, total);
  clearInterval(timer);
  t.is(staged.size, total);
  // 4 slabs of 4 MiB, the stream's buffer and the chunk in hand; without backpressure: ~all of it.
  t.true(maxAhead <= 24 * 1024 * 1024, `${maxAhead} bytes read ahead of the disk`);
  await staged.discard();
});
