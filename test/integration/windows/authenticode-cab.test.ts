import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import {
  signCabBytes,
  signCabFile,
  signCabInPlace,
  verifyCab,
  verifyCabBytes,
} from '../../../src/windows/authenticode/index.js';
import {
  makePki,
  osslSign,
  osslVerify,
  refusal,
  tool,
  type TestPki,
} from '../../helpers/authenticode.js';

/**
 * Issue 11 item 6: Authenticode signatures of cabinets, checked by the independent tools
 * (osslsigncode 2.x, gcab, openssl) in both directions.
 */
let dir: string;
let pki: TestPki;
let unsigned: string;
const payload = { 'a.bin': randomBytes(150_000), 'b.txt': Buffer.from('line\r\n'.repeat(40_000)) };

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-authenticode-'));
  pki = await makePki(path.join(dir, 'pki'));
  unsigned = await gcabCab('unsigned.cab', payload);
});

test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function gcabCab(name: string, files: Record<string, Buffer>): Promise<string> {
  const src = await mkdtemp(path.join(dir, 'src-'));
  for (const [file, bytes] of Object.entries(files)) await writeFile(path.join(src, file), bytes);
  const cab = path.join(dir, name);
  const r = await tool('sh', [
    '-c',
    `cd "${src}" && gcab -c -z "${cab}" ${Object.keys(files).join(' ')}`,
  ]);
  if (r.code !== 0) throw new Error(`gcab -c failed: ${r.stderr}`);
  return cab;
}

test('a cab signed by upcat passes osslsigncode verify with identical current and calculated digests', async (t) => {
  const out = path.join(dir, 'upcat-signed.cab');
  const result = await signCabFile(unsigned, out, pki.publisher.signer);
  const v = await osslVerify(out, pki.caFile);
  t.true(v.ok, v.output);
  t.truthy(v.current);
  t.is(v.current, v.calculated);
  t.is(v.current, result.digest.toString('hex').toUpperCase());
  // The signed attributes osslsigncode writes are all there (SpcStatementType included).
  t.regex(v.output, /Microsoft Individual Code Signing purpose/);
  t.regex(v.output, /Signing time:/);
  // gcab still reads it: same files back.
  const x = await mkdtemp(path.join(dir, 'x-'));
  const g = await tool('gcab', ['-x', '-C', x, out]);
  t.is(g.code, 0, g.stderr);
  for (const [name, bytes] of Object.entries(payload))
    t.true((await readFile(path.join(x, name))).equals(bytes), name);
  // And our own verifier agrees, naming the signer as openssl does.
  const ours = await verifyCab(out, [pki.caPem]);
  t.is(ours.digest, result.digest.toString('hex'));
  const fp = await tool('openssl', [
    'x509',
    '-noout',
    '-fingerprint',
    '-sha1',
    '-in',
    pki.publisher.certsFile,
  ]);
  t.is(ours.thumbprintSha1, fp.stdout.trim().split('=')[1]?.replace(/:/g, ''));
  t.regex(ours.subject, /CN=upcat T01 publisher/);
});

test('the embedded digest and signed layout equal what osslsigncode sign writes for the same file', async (t) => {
  const ours = path.join(dir, 'cmp-upcat.cab');
  const theirs = path.join(dir, 'cmp-ossl.cab');
  await signCabFile(unsigned, ours, pki.publisher.signer);
  await osslSign(unsigned, theirs, pki.publisher);
  const [a, b] = await Promise.all([osslVerify(ours, pki.caFile), osslVerify(theirs, pki.caFile)]);
  t.true(a.ok && b.ok, a.output + b.output);
  t.is(a.current, b.current);
  // Everything before the signature is byte for byte the same, except the signature length (48..51).
  const [ab, bb] = await Promise.all([readFile(ours), readFile(theirs)]);
  const end = ab.readUInt32LE(44);
  t.is(bb.readUInt32LE(44), end);
  const mask = (buf: Buffer): Buffer => {
    const c = Buffer.from(buf.subarray(0, end));
    c.fill(0, 48, 52);
    return c;
  };
  t.true(mask(ab).equals(mask(bb)));
  // The same attribute types in the same (DER-sorted) order as osslsigncode's.
  const attrs = async (file: string): Promise<string[]> => {
    const sig = `${file}.p7`;
    await tool('osslsigncode', ['extract-signature', '-in', file, '-out', sig]);
    const parsed = await tool('openssl', ['asn1parse', '-inform', 'DER', '-in', sig]);
    return [...parsed.stdout.matchAll(/OBJECT\s+:(\S+)/g)].map((m) => m[1] ?? '');
  };
  t.deepEqual(await attrs(ours), await attrs(theirs));
});

test('osslsigncode remove-signature gives back the unsigned bytes exactly', async (t) => {
  const out = path.join(dir, 'rm-upcat.cab');
  await signCabFile(unsigned, out, pki.publisher.signer);
  const back = path.join(dir, 'rm-back.cab');
  const r = await tool('osslsigncode', ['remove-signature', '-in', out, '-out', back]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.true((await readFile(back)).equals(await readFile(unsigned)));
});

test('one flipped byte anywhere in the signed range fails osslsigncode verify and verifyCab', async (t) => {
  const small = await gcabCab('small.cab', {
    'x.txt': Buffer.from('hello authenticode\n'.repeat(3)),
  });
  const signedFile = path.join(dir, 'small-signed.cab');
  await signCabFile(small, signedFile, pki.publisher.signer);
  const signed = await readFile(signedFile);
  const end = signed.readUInt32LE(44);
  // The signed range (cab-layout.ts): 0-3, 8-33, 56 up to the signature.
  const positions = [0, 1, 2, 3];
  for (let i = 8; i < 34; i++) positions.push(i);
  for (let i = 56; i < end; i++) positions.push(i);
  const flipped = path.join(dir, 'flipped.cab');
  const codes = new Set<string>();
  for (const at of positions) {
    const copy = Buffer.from(signed);
    copy[at] = (copy[at] as number) ^ 0x01;
    await writeFile(flipped, copy);
    const v = await osslVerify(flipped, pki.caFile);
    t.false(v.ok, `osslsigncode accepted a flip at ${at}`);
    const code = await refusal(verifyCab(flipped, [pki.caPem]));
    t.not(code, 'accepted', `verifyCab accepted a flip at ${at}`);
    codes.add(code);
    // Folder table, file table and data: caught as a digest mismatch, not by accident.
    if (at >= 60) t.is(code, 'tampered', `flip at ${at}`);
  }
  t.true(codes.has('tampered'));
});

test('verifyCab accepts a cab signed by osslsigncode and refuses it against a different CA', async (t) => {
  const theirs = path.join(dir, 'ossl-signed.cab');
  await osslSign(unsigned, theirs, pki.publisher);
  const ok = await verifyCab(theirs, [pki.caPem]);
  const v = await osslVerify(theirs, pki.caFile);
  t.true(v.ok, v.output);
  t.is(ok.digest.toUpperCase(), v.current ?? 'none');
  t.is(await refusal(verifyCab(theirs, [pki.otherCaPem])), 'untrusted_publisher');
  t.false((await osslVerify(theirs, pki.otherCaFile)).ok);
  // Trusting the publisher's own certificate (pinning, as `--trust vendor.cer` would) works too.
  const pinned = await verifyCab(theirs, [pki.publisher.signer.certificatePem]);
  t.is(pinned.thumbprintSha1, ok.thumbprintSha1);
});

test('a signer without codeSigning, or expired, is refused by the signer and by verifyCab', async (t) => {
  for (const bad of [pki.noCodeSigning, pki.expired]) {
    const out = path.join(dir, `bad-${path.basename(bad.keyFile)}.cab`);
    t.is(await refusal(signCabFile(unsigned, out, bad.signer)), 'invalid_config');
    await t.throwsAsync(readFile(out)); // nothing written
    // Signed anyway by osslsigncode: both verifiers refuse it.
    const theirs = path.join(dir, `ossl-${path.basename(bad.keyFile)}.cab`);
    await osslSign(unsigned, theirs, bad);
    t.is(await refusal(verifyCab(theirs, [pki.caPem])), 'untrusted_publisher');
    t.false((await osslVerify(theirs, pki.caFile)).ok);
  }
});

test('unsigned, truncated and malformed cabs are refused with their codes', async (t) => {
  t.is(await refusal(verifyCab(unsigned, [pki.caPem])), 'unsigned');
  const signed = path.join(dir, 'bad-base.cab');
  await signCabFile(unsigned, signed, pki.publisher.signer);
  const bytes = await readFile(signed);
  const variant = async (name: string, edit: (b: Buffer) => Buffer): Promise<string> => {
    const file = path.join(dir, name);
    await writeFile(file, edit(Buffer.from(bytes)));
    return refusal(verifyCab(file, [pki.caPem]));
  };
  t.is(await variant('trunc.cab', (b) => b.subarray(0, b.length - 9)), 'malformed_signature');
  t.is(
    await variant('len.cab', (b) => (b.writeUInt32LE(0xfffffff0, 48), b)),
    'malformed_signature',
  );
  t.is(
    await variant('off.cab', (b) => (b.writeUInt32LE(b.length + 100, 44), b)),
    'malformed_signature',
  );
  const end = bytes.readUInt32LE(44);
  t.is(
    await variant('garbage.cab', (b) => (randomBytes(b.length - end).copy(b, end), b)),
    'malformed_signature',
  );
  // A DER length inside the block pointing far past it.
  t.is(
    await variant(
      'derlen.cab',
      (b) => (b.writeUInt8(0x84, end + 1), b.writeUInt32BE(0x7fffffff, end + 2), b),
    ),
    'malformed_signature',
  );
  t.is(await variant('short.cab', (b) => b.subarray(0, 20)), 'invalid_input');
});

test('in place: a cab with the reserve is signed where it lies; an existing signature is replaced', async (t) => {
  const theirs = path.join(dir, 'inplace.cab');
  await osslSign(unsigned, theirs, pki.publisher);
  const before = await readFile(theirs);
  const result = await signCabInPlace(theirs, pki.publisher.signer);
  const v = await osslVerify(theirs, pki.caFile);
  t.true(v.ok, v.output);
  t.is(v.current, result.digest.toString('hex').toUpperCase());
  const after = await readFile(theirs);
  const end = before.readUInt32LE(44);
  t.is(after.readUInt32LE(44), end);
  t.true(after.subarray(52, end).equals(before.subarray(52, end)));
  // Without a reserve, in place is refused and the file is left alone.
  const copy = path.join(dir, 'no-reserve.cab');
  await writeFile(copy, await readFile(unsigned));
  t.is(await refusal(signCabInPlace(copy, pki.publisher.signer)), 'invalid_input');
  t.true((await readFile(copy)).equals(await readFile(unsigned)));
});

test('signCabFile never overwrites; signCabBytes gives the same bytes as signCabFile', async (t) => {
  const out = path.join(dir, 'exists.cab');
  await writeFile(out, 'keep');
  t.is(await refusal(signCabFile(unsigned, out, pki.publisher.signer)), 'invalid_input');
  t.is(await readFile(out, 'utf8'), 'keep');
  const signingTime = new Date(Math.floor(Date.now() / 1000) * 1000);
  const file = path.join(dir, 'bytes-vs-file.cab');
  await signCabFile(unsigned, file, pki.publisher.signer, { signingTime });
  const mem = signCabBytes(await readFile(unsigned), pki.publisher.signer, { signingTime });
  t.true(mem.equals(await readFile(file)));
  t.is(verifyCabBytes(mem, [pki.caPem]).signingTime?.toISOString(), signingTime.toISOString());
});
