import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { signMsiFile, verifyMsi } from '../../../src/windows/authenticode/index.js';
import {
  readCfbTree,
  type CfbNode,
  type CfbStorage,
} from '../../../src/windows/authenticode/cfb-tree.js';
import { writeCfb } from '../../../src/windows/authenticode/cfb-write.js';
import { makePki, osslSign, refusal, tool, type TestPki } from '../../helpers/authenticode.js';
import { EXTRACTED_PAYLOAD, buildPayloadMsi } from '../../helpers/wixl-msi.js';

/**
 * MSI Authenticode signing (issue 11 item 6), checked with osslsigncode and msitools against
 * MSIs built by wixl: the digest, the signature, and that the package still reads everywhere.
 */
let dir: string;
let pki: TestPki;
let unsigned: string;

/** An MSI built by wixl around a random (incompressible) payload of `size` bytes. */
async function buildMsi(name: string, size: number): Promise<{ msi: string; payload: Buffer }> {
  const payload = randomBytes(size);
  return { msi: await buildPayloadMsi(path.join(dir, name), payload), payload };
}

/** `osslsigncode verify` of an MSI: exit status and the two DigitalSignature digests it prints. */
async function msiVerify(
  file: string,
): Promise<{ ok: boolean; current?: string; calculated?: string; output: string }> {
  const r = await tool('osslsigncode', ['verify', '-CAfile', pki.caFile, '-in', file]);
  const output = r.stdout + r.stderr;
  const current = /Current DigitalSignature\s*:\s*([0-9A-F]+)/.exec(output)?.[1];
  const calculated = /Calculated DigitalSignature\s*:\s*([0-9A-F]+)/.exec(output)?.[1];
  return {
    ok: r.code === 0 && output.includes('Signature verification: ok'),
    output,
    ...(current === undefined ? {} : { current }),
    ...(calculated === undefined ? {} : { calculated }),
  };
}

/** Every stream by path with its size and SHA-256, and every storage with its CLSID. */
function streamsOf(node: CfbNode, prefix = ''): string[] {
  const p = prefix + node.name;
  if (node.type === 'stream')
    return [
      `${p} ${node.content.length} ${createHash('sha256').update(node.content).digest('hex')}`,
    ];
  return [
    `${p}/ ${node.clsid.toString('hex')}`,
    ...node.children.flatMap((c) => streamsOf(c, `${p}/`)),
  ].sort();
}

const tree = async (file: string): Promise<string[]> =>
  streamsOf(readCfbTree(await readFile(file), file));

/** msidump -t: every table as an .idt file, by name. */
async function tables(file: string, out: string): Promise<Map<string, string>> {
  await mkdir(out);
  const r = await tool('msidump', ['-d', out, '-t', file]);
  if (r.code !== 0) throw new Error(`msidump failed: ${r.stderr}`);
  const names = (await readdir(out)).sort();
  return new Map(
    await Promise.all(
      names.map(async (n) => [n, await readFile(path.join(out, n), 'utf8')] as const),
    ),
  );
}

const msiinfo = async (...args: string[]): Promise<string> => {
  const r = await tool('msiinfo', args);
  if (r.code !== 0) throw new Error(`msiinfo ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
};

/** A signing time within the test publisher's validity (whole seconds, as UTCTime holds it). */
const SIGNING_TIME = new Date(Math.floor(Date.now() / 1000) * 1000 + 60_000);
const MONTHS = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');
/** OpenSSL's ASN1_TIME_print form, as osslsigncode prints "Signing time". */
const opensslTime = (d: Date): string =>
  `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)} ${d.getUTCFullYear()} GMT`;
const signingTimeLine = new RegExp(`Signing time: ${opensslTime(SIGNING_TIME)}`);

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-authenticode-msi-sign-'));
  pki = await makePki(path.join(dir, 'pki'));
  ({ msi: unsigned } = await buildMsi('small', 300_000));
});

test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('signMsiFile: osslsigncode verifies it, its digest is the one osslsigncode sign computes, both verifiers accept both', async (t) => {
  const ours = path.join(dir, 'ours.msi');
  const theirs = path.join(dir, 'theirs.msi');
  const result = await signMsiFile(unsigned, ours, pki.publisher.signer, {
    signingTime: SIGNING_TIME,
  });
  await osslSign(unsigned, theirs, pki.publisher);
  t.is((await stat(ours)).size, result.size);
  const [a, b] = await Promise.all([msiVerify(ours), msiVerify(theirs)]);
  t.true(a.ok, a.output);
  t.is(a.current, a.calculated);
  t.is(a.current, result.digest.toString('hex').toUpperCase());
  t.true(b.ok, b.output);
  t.is(b.current, a.current);
  t.regex(a.output, signingTimeLine);
  t.regex(a.output, /Microsoft Individual Code Signing purpose/);
  const v1 = await verifyMsi(ours, [pki.caPem]);
  t.is(v1.digest, result.digest.toString('hex'));
  t.regex(v1.subject, /CN=upcat T01 publisher/);
  t.is((await verifyMsi(theirs, [pki.caPem])).digest, v1.digest);
  t.is(await refusal(verifyMsi(ours, [pki.otherCaPem])), 'untrusted_publisher');
  t.is(await refusal(verifyMsi(unsigned, [pki.caPem])), 'unsigned');
});

test('the signed package still reads: msiinfo, msidump, msiextract and gcab find every stream, table and file', async (t) => {
  const signed = path.join(dir, 'reads.msi');
  await signMsiFile(unsigned, signed, pki.publisher.signer);
  // Every stream of the unsigned package is there with the same bytes, plus the signature.
  const before = await tree(unsigned);
  const after = await tree(signed);
  t.deepEqual(
    after.filter((s) => !s.includes('\u0005DigitalSignature')),
    before,
  );
  t.is(after.length, before.length + 1);
  // msitools: the same streams and tables, and the same table contents.
  const streams = (await msiinfo('streams', signed)).split('\n').filter(Boolean).sort();
  const streamsBefore = (await msiinfo('streams', unsigned)).split('\n').filter(Boolean).sort();
  t.deepEqual(
    streams.filter((s) => !s.endsWith('DigitalSignature')),
    streamsBefore,
  );
  t.true(streams.includes('\u0005DigitalSignature'));
  t.is(await msiinfo('tables', signed), await msiinfo('tables', unsigned));
  t.deepEqual(
    await tables(signed, path.join(dir, 'dump-signed')),
    await tables(unsigned, path.join(dir, 'dump-unsigned')),
  );
  // The embedded cabinet: gcab lists it, msiextract installs the payload byte for byte.
  const cab = path.join(dir, 'reads.cab');
  const r = await tool('sh', ['-c', `msiinfo extract "${signed}" payload.cab > "${cab}"`]);
  t.is(r.code, 0, r.stderr);
  const list = await tool('gcab', ['-l', cab]);
  t.is(list.code, 0, list.stderr);
  t.regex(list.stdout, /Payload/);
  const x = path.join(dir, 'extracted');
  t.is((await tool('msiextract', ['-C', x, signed])).code, 0);
  const small = path.join(dir, 'small', 'payload.bin');
  t.true((await readFile(path.join(x, EXTRACTED_PAYLOAD))).equals(await readFile(small)));
});

test('osslsigncode remove-signature: the same streams, tables and digest as the unsigned package (not the same bytes)', async (t) => {
  const signed = path.join(dir, 'remove.msi');
  const back = path.join(dir, 'removed.msi');
  const result = await signMsiFile(unsigned, signed, pki.publisher.signer);
  const r = await tool('osslsigncode', ['remove-signature', '-in', signed, '-out', back]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.deepEqual(await tree(back), await tree(unsigned));
  t.deepEqual(
    await tables(back, path.join(dir, 'dump-removed')),
    await tables(unsigned, path.join(dir, 'dump-orig')),
  );
  t.is(await refusal(verifyMsi(back, [pki.caPem])), 'unsigned');
  // Signing the unsigned-again package gives the same digest.
  const again = await signMsiFile(back, path.join(dir, 'resigned.msi'), pki.publisher.signer);
  t.true(again.digest.equals(result.digest));
});

test('a signed package is re-signed: the old signature is replaced, not added to', async (t) => {
  const theirs = path.join(dir, 'resign-theirs.msi');
  await osslSign(unsigned, theirs, pki.publisher);
  const ours = path.join(dir, 'resign-ours.msi');
  const result = await signMsiFile(theirs, ours, pki.publisher.signer, {
    signingTime: SIGNING_TIME,
  });
  const after = await tree(ours);
  t.is(after.filter((s) => s.includes('\u0005DigitalSignature')).length, 1);
  const v = await msiVerify(ours);
  t.true(v.ok, v.output);
  t.is(v.current, result.digest.toString('hex').toUpperCase());
  t.regex(v.output, signingTimeLine);
});

test('one flipped byte in a stream (the cabinet, or a small table stream) fails both verifiers', async (t) => {
  const signed = path.join(dir, 'flip.msi');
  await signMsiFile(unsigned, signed, pki.publisher.signer);
  const bytes = await readFile(signed);
  // A large stream (the embedded cabinet, in regular sectors) and a mini-stream one (the string pool).
  const places = [
    bytes.indexOf(Buffer.from('MSCF')) + 60,
    bytes.indexOf(Buffer.from('upcat msi test')),
  ];
  for (const [i, at] of places.entries()) {
    t.true(at > 60);
    const tampered = Buffer.from(bytes);
    tampered[at] = (tampered[at] as number) ^ 0x01;
    const file = path.join(dir, `flipped-${i}.msi`);
    await writeFile(file, tampered);
    const v = await msiVerify(file);
    t.false(v.ok, v.output);
    t.not(v.current, v.calculated);
    t.is(await refusal(verifyMsi(file, [pki.caPem])), 'tampered');
  }
});

test('over 109 FAT sectors (an 8 MiB payload): the DIFAT is written and osslsigncode and msiextract agree', async (t) => {
  const { msi, payload } = await buildMsi('large', 8 * 1024 * 1024);
  const ours = path.join(dir, 'large-ours.msi');
  const theirs = path.join(dir, 'large-theirs.msi');
  const result = await signMsiFile(msi, ours, pki.publisher.signer);
  await osslSign(msi, theirs, pki.publisher);
  const head = (await readFile(ours)).subarray(0, 76);
  t.true(head.readUInt32LE(44) > 109, 'FAT sectors');
  t.true(head.readUInt32LE(72) > 0, 'DIFAT sectors');
  const [a, b] = await Promise.all([msiVerify(ours), msiVerify(theirs)]);
  t.true(a.ok, a.output);
  t.is(a.current, a.calculated);
  t.is(a.current, b.current);
  t.is(a.current, result.digest.toString('hex').toUpperCase());
  const x = path.join(dir, 'large-extracted');
  t.is((await tool('msiextract', ['-C', x, ours])).code, 0);
  t.true((await readFile(path.join(x, EXTRACTED_PAYLOAD))).equals(payload));
});

test('storages inside storages: the digest covers the children and CLSID of each, as osslsigncode computes it', async (t) => {
  // wixl writes no sub-storages (MSIs hold them for embedded transforms), so one is made here.
  const storage = (name: string, children: CfbNode[], clsid: number): CfbNode => ({
    type: 'storage',
    name,
    clsid: Buffer.alloc(16, clsid),
    stateBits: 0,
    created: null,
    modified: null,
    children,
  });
  const stream = (name: string, size: number): CfbNode => ({
    type: 'stream',
    name,
    content: randomBytes(size),
  });
  const root = storage(
    'Root Entry',
    [
      stream('a', 100),
      stream('B', 5000),
      storage(
        'Sub',
        [stream('x', 10), stream('yy', 0), storage('Deep', [stream('z', 7000)], 9)],
        3,
      ),
      stream('Ab', 20),
    ],
    0x84,
  );
  const input = path.join(dir, 'nested.cfb');
  await writeFile(input, Buffer.concat(writeCfb(root as CfbStorage).chunks));
  const signed = path.join(dir, 'nested-signed.cfb');
  const result = await signMsiFile(input, signed, pki.publisher.signer);
  const v = await msiVerify(signed);
  t.true(v.ok, v.output);
  t.is(v.current, v.calculated);
  t.is(v.current, result.digest.toString('hex').toUpperCase());
  t.is((await verifyMsi(signed, [pki.caPem])).digest, result.digest.toString('hex'));
  // A changed CLSID of the inner storage is outside every stream but inside the digest.
  const bytes = await readFile(signed);
  const clsid = bytes.indexOf(Buffer.alloc(16, 9));
  t.true(clsid > 0);
  bytes[clsid] = 8;
  const tampered = path.join(dir, 'nested-clsid.cfb');
  await writeFile(tampered, bytes);
  t.false((await msiVerify(tampered)).ok);
  t.is(await refusal(verifyMsi(tampered, [pki.caPem])), 'tampered');
});

test('bad input: not a compound file, truncated, an existing output: a clear error and nothing written', async (t) => {
  const text = path.join(dir, 'not-an-msi.txt');
  await writeFile(text, 'plain text, not a compound file\n'.repeat(40));
  const truncated = path.join(dir, 'truncated.msi');
  await writeFile(truncated, (await readFile(unsigned)).subarray(0, 100_000));
  for (const input of [text, truncated]) {
    const out = `${input}.signed`;
    const err = await t.throwsAsync(signMsiFile(input, out, pki.publisher.signer));
    t.is((err as { code?: string }).code, 'invalid_input');
    t.regex(err?.message ?? '', /compound file/);
    await t.throwsAsync(stat(out));
  }
  const exists = path.join(dir, 'exists.msi');
  await writeFile(exists, 'keep me');
  t.is(await refusal(signMsiFile(unsigned, exists, pki.publisher.signer)), 'invalid_input');
  t.is(await readFile(exists, 'utf8'), 'keep me');
  t.deepEqual(
    (await readdir(dir)).filter((n) => n.includes('.partial-')),
    [],
  );
});
