import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { signPeFile, verifyPe } from '../../../src/windows/authenticode/index.js';
import {
  makePe,
  makePki,
  osslSign,
  osslVerify,
  refusal,
  tool,
  type TestPki,
} from '../../helpers/authenticode.js';

/** Authenticode of PE images, checked with osslsigncode (issue 11 item 6, "and of PE files"). */
let dir: string;
let pki: TestPki;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-authenticode-pe-'));
  pki = await makePki(path.join(dir, 'pki'));
});

test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

for (const wide of [true, false]) {
  const kind = wide ? 'PE32+' : 'PE32';

  test(`${kind}: osslsigncode verifies upcat's signature; digest, checksum and remove-signature match osslsigncode sign`, async (t) => {
    const input = path.join(dir, `${kind}.exe`);
    await writeFile(input, makePe({ wide }));
    const ours = path.join(dir, `${kind}-upcat.exe`);
    const theirs = path.join(dir, `${kind}-ossl.exe`);
    const result = await signPeFile(input, ours, pki.publisher.signer);
    await osslSign(input, theirs, pki.publisher);
    const [a, b] = await Promise.all([
      osslVerify(ours, pki.caFile),
      osslVerify(theirs, pki.caFile),
    ]);
    t.true(a.ok, a.output);
    t.is(a.current, a.calculated);
    t.is(a.current, b.current);
    t.is(a.current, result.digest.toString('hex').toUpperCase());
    // The CheckSum field holds the image checksum: osslsigncode prints it alone when it agrees
    // ("Current" and "Calculated" plus a warning when it does not).
    const signedBytes = await readFile(ours);
    const sum = signedBytes.readUInt32LE(64 + 88);
    t.not(sum, 0);
    t.regex(
      a.output,
      new RegExp(`PE checksum\\s*:\\s*${sum.toString(16).toUpperCase().padStart(8, '0')}`),
    );
    t.notRegex(a.output, /invalid PE checksum|Calculated PE checksum/);
    // Removing either signature gives the same image (osslsigncode pads to 8 and recomputes CheckSum).
    const backA = path.join(dir, `${kind}-back-upcat.exe`);
    const backB = path.join(dir, `${kind}-back-ossl.exe`);
    t.is((await tool('osslsigncode', ['remove-signature', '-in', ours, '-out', backA])).code, 0);
    t.is((await tool('osslsigncode', ['remove-signature', '-in', theirs, '-out', backB])).code, 0);
    const [ba, bb, original] = await Promise.all([
      readFile(backA),
      readFile(backB),
      readFile(input),
    ]);
    t.true(ba.equals(bb));
    // ...which is the input, zero-padded to 8, apart from its CheckSum field.
    const padded = Buffer.concat([original, Buffer.alloc((8 - (original.length % 8)) % 8)]);
    ba.fill(0, 64 + 88, 64 + 92);
    t.true(ba.equals(padded));
    // Our verifier accepts both signatures, and refuses them against another CA.
    t.is((await verifyPe(ours, [pki.caPem])).digest, result.digest.toString('hex'));
    t.is((await verifyPe(theirs, [pki.caPem])).digest.toUpperCase(), b.current ?? '');
    t.is(await refusal(verifyPe(theirs, [pki.otherCaPem])), 'untrusted_publisher');
  });
}

test('PE: one flipped byte in the signed range fails both verifiers; CheckSum is outside it', async (t) => {
  const input = path.join(dir, 'flip.exe');
  await writeFile(input, makePe());
  const signed = path.join(dir, 'flip-signed.exe');
  await signPeFile(input, signed, pki.publisher.signer);
  const bytes = await readFile(signed);
  const end = bytes.readUInt32LE(64 + 168);
  const flipped = path.join(dir, 'flipped.exe');
  // DOS header, COFF header, optional header, other directories, section table, code, overlay.
  for (const at of [2, 70, 64 + 24 + 40, 64 + 176 + 3, 64 + 24 + 240 + 8, 0x200, 0x300, end - 1]) {
    const copy = Buffer.from(bytes);
    copy[at] = (copy[at] as number) ^ 0x01;
    await writeFile(flipped, copy);
    t.false((await osslVerify(flipped, pki.caFile)).ok, `osslsigncode accepted a flip at ${at}`);
    t.not(await refusal(verifyPe(flipped, [pki.caPem])), 'accepted', `flip at ${at}`);
  }
  const copy = Buffer.from(bytes);
  copy[64 + 88] = (copy[64 + 88] as number) ^ 0x01; // CheckSum: not covered by the digest
  await writeFile(flipped, copy);
  t.truthy((await verifyPe(flipped, [pki.caPem])).digest);
  t.is(await refusal(verifyPe(input, [pki.caPem])), 'unsigned');
});
