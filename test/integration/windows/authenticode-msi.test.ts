import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { verifyMsi } from '../../../src/windows/authenticode/index.js';
import { makePki, osslSign, refusal, tool, type TestPki } from '../../helpers/authenticode.js';
import { buildPayloadMsi } from '../../helpers/wixl-msi.js';

/** MSI Authenticode verification against MSIs built by wixl and signed by osslsigncode. */
let dir: string;
let pki: TestPki;
let unsigned: string;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-authenticode-msi-'));
  pki = await makePki(path.join(dir, 'pki'));
  await writeFile(path.join(dir, 'readme.txt'), 'not a compound file\n');
  unsigned = await buildPayloadMsi(path.join(dir, 'msi'), 'upcat MSI signature test\n'.repeat(200));
});

test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('verifyMsi computes the digest osslsigncode embeds and checks the signer', async (t) => {
  const signed = path.join(dir, 'signed.msi');
  await osslSign(unsigned, signed, pki.publisher);
  const v = await tool('osslsigncode', ['verify', '-CAfile', pki.caFile, '-in', signed]);
  t.is(v.code, 0, v.stdout);
  const current = /Current DigitalSignature\s*:\s*([0-9A-F]+)/.exec(v.stdout)?.[1];
  t.truthy(current, v.stdout);
  const ours = await verifyMsi(signed, [pki.caPem]);
  t.is(ours.digest.toUpperCase(), current ?? '');
  t.regex(ours.subject, /CN=upcat T01 publisher/);
  t.is(await refusal(verifyMsi(signed, [pki.otherCaPem])), 'untrusted_publisher');
  t.is(await refusal(verifyMsi(unsigned, [pki.caPem])), 'unsigned');
});

test('a changed stream (the embedded cabinet) fails osslsigncode verify and verifyMsi', async (t) => {
  const signed = path.join(dir, 'tamper.msi');
  await osslSign(unsigned, signed, pki.publisher);
  const bytes = await readFile(signed);
  const cab = bytes.indexOf(Buffer.from('MSCF'));
  t.true(cab > 0);
  bytes[cab + 60] = (bytes[cab + 60] as number) ^ 0x01;
  const tampered = path.join(dir, 'tampered.msi');
  await writeFile(tampered, bytes);
  const v = await tool('osslsigncode', ['verify', '-CAfile', pki.caFile, '-in', tampered]);
  t.not(v.code, 0);
  t.is(await refusal(verifyMsi(tampered, [pki.caPem])), 'tampered');
  t.is(await refusal(verifyMsi(path.join(dir, 'readme.txt'), [pki.caPem])), 'invalid_input');
});
