import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { verifyMsi } from '../../../src/windows/authenticode/index.js';
import { makePki, osslSign, refusal, tool, type TestPki } from '../../helpers/authenticode.js';

/** MSI Authenticode verification against MSIs built by wixl and signed by osslsigncode. */
let dir: string;
let pki: TestPki;
let unsigned: string;

const WXS = `<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="upcat msi test" Language="1033" Version="1.0.0" Manufacturer="upcat"
           UpgradeCode="6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f">
    <Package InstallerVersion="200" Compressed="yes"/>
    <Media Id="1" Cabinet="payload.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="upcat-msi-test">
          <Component Id="Main" Guid="6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e50">
            <File Id="Readme" Source="readme.txt"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="All" Level="1"><ComponentRef Id="Main"/></Feature>
  </Product>
</Wix>
`;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-authenticode-msi-'));
  pki = await makePki(path.join(dir, 'pki'));
  await writeFile(path.join(dir, 'readme.txt'), 'upcat MSI signature test\n'.repeat(200));
  await writeFile(path.join(dir, 'product.wxs'), WXS);
  unsigned = path.join(dir, 'product.msi');
  const r = await tool('sh', ['-c', `cd "${dir}" && wixl -o product.msi product.wxs`]);
  if (r.code !== 0) throw new Error(`wixl failed: ${r.stderr}`);
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
