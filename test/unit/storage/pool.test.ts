import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
import { BlobPool } from '../../../src/storage/blobs/pool.js';
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
