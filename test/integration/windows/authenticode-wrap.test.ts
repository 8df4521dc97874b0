import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { isUpcatError } from '../../../src/errors.js';
import { writeCab } from '../../../src/windows/cab/index.js';
import { signCabFile, verifyCab, writeSignedCab } from '../../../src/windows/authenticode/index.js';
import { makePki, osslVerify, tool, type TestPki } from '../../helpers/authenticode.js';

/** Files -> signed cabinet with upcat's writer and signer, checked by osslsigncode and gcab. */
let dir: string;
let pki: TestPki;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-authenticode-wrap-'));
  pki = await makePki(path.join(dir, 'pki'));
});

test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mtime = new Date('2026-01-02T03:04:06Z');
const files = (): { name: string; source: Buffer }[] => [
  { name: 'catalog.xml', source: Buffer.from('<smc:SystemsManagementCatalog/>\n'.repeat(5000)) },
  { name: 'payload/data.bin', source: payloadBytes },
];
const payloadBytes = randomBytes(300_000);

test('writeSignedCab: osslsigncode verifies it, gcab extracts it, remove-signature gives the unsigned cabinet', async (t) => {
  const signed = path.join(dir, 'wrapped.cab');
  const result = await writeSignedCab(files(), signed, pki.publisher.signer, { cab: { mtime } });
  const v = await osslVerify(signed, pki.caFile);
  t.true(v.ok, v.output);
  t.is(v.current, v.calculated);
  t.is(v.current, result.digest.toString('hex').toUpperCase());
  t.is((await verifyCab(signed, [pki.caPem])).digest, result.digest.toString('hex'));

  const x = await mkdtemp(path.join(dir, 'x-'));
  const g = await tool('gcab', ['-x', '-C', x, signed]);
  t.is(g.code, 0, g.stderr);
  t.true((await readFile(path.join(x, 'payload', 'data.bin'))).equals(payloadBytes));

  // The writer's cabinet had the reserve; osslsigncode's remove-signature drops the reserve too
  // (cab_remove_pkcs7), so what is exactly comparable is the same files written without it.
  const back = path.join(dir, 'wrapped-back.cab');
  const r = await tool('osslsigncode', ['remove-signature', '-in', signed, '-out', back]);
  t.is(r.code, 0, r.stdout + r.stderr);
  const plain = path.join(dir, 'plain.cab');
  await writeCab(files(), plain, { mtime });
  t.true((await readFile(back)).equals(await readFile(plain)));
});

test('writeSignedCab with an unusable signer writes nothing', async (t) => {
  const out = path.join(dir, 'refused.cab');
  const err = await t.throwsAsync(writeSignedCab(files(), out, pki.expired.signer));
  t.true(isUpcatError(err) && err.code === 'invalid_config');
  t.false((await readdir(dir)).some((f) => f.includes('refused.cab')));
});

test('writeSignedCab refuses an existing output and leaves it alone', async (t) => {
  const out = path.join(dir, 'taken.cab');
  await writeFile(out, 'keep');
  const err = await t.throwsAsync(writeSignedCab(files(), out, pki.publisher.signer));
  t.true(isUpcatError(err) && err.code === 'invalid_input');
  t.is(await readFile(out, 'utf8'), 'keep');
  t.false((await readdir(dir)).some((f) => f.includes('taken.cab.partial')));
});

test('several folders: the reserve inserted by signCabFile shifts every folder, gcab and osslsigncode agree', async (t) => {
  const plain = path.join(dir, 'folders.cab');
  // Two CFDATA blocks per folder (a file lies in one folder): eight 50 kB files, several folders.
  const parts = Array.from({ length: 8 }, (_, i) => ({
    name: `part${i}.bin`,
    source: payloadBytes.subarray(i * 37_000, i * 37_000 + 50_000),
  }));
  await writeCab(parts, plain, { mtime }, { maxBlocksPerFolder: 2 });
  const folders = (await readFile(plain)).readUInt16LE(26);
  t.true(folders > 3, `${folders} folders`);
  const signed = path.join(dir, 'folders-signed.cab');
  await signCabFile(plain, signed, pki.publisher.signer);
  const v = await osslVerify(signed, pki.caFile);
  t.true(v.ok, v.output);
  t.is(v.current, v.calculated);
  const x = await mkdtemp(path.join(dir, 'xf-'));
  const g = await tool('gcab', ['-x', '-C', x, signed]);
  t.is(g.code, 0, g.stderr);
  for (const part of parts)
    t.true((await readFile(path.join(x, part.name))).equals(part.source), part.name);
  const back = path.join(dir, 'folders-back.cab');
  t.is((await tool('osslsigncode', ['remove-signature', '-in', signed, '-out', back])).code, 0);
  t.true((await readFile(back)).equals(await readFile(plain)));
});
