import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { createCa, issueCertificate, rsaKeyPair } from '../../../../src/signing/ca.js';
import {
  signableKind,
  siteAuthenticodeSigner,
} from '../../../../src/windows/authenticode/sign-file.js';
import { refusal } from '../../../helpers/authenticode.js';

/** Which signer `upcat sign` uses, and how it tells a file's kind. */
test('the site publisher carries the site CA; an imported one keeps its own chain', (t) => {
  const siteCa = createCa({ subject: { commonName: 'Site CA' }, modulusLength: 2048 });
  const orgCa = createCa({ subject: { commonName: 'Org CA' }, modulusLength: 2048 });
  const keys = rsaKeyPair(2048);
  const issue = (ca: typeof siteCa): string =>
    issueCertificate(ca, {
      subject: { commonName: 'publisher' },
      publicKey: { pem: keys.publicKeyPem },
      usage: 'codeSigning',
    });
  const own = { certificatePem: issue(siteCa), privateKeyPem: keys.privateKeyPem, chainPems: [] };
  t.deepEqual(
    siteAuthenticodeSigner({ publisher: own, caCertificatePem: siteCa.certificatePem }).chainPems,
    [siteCa.certificatePem],
  );
  const imported = {
    certificatePem: issue(orgCa),
    privateKeyPem: keys.privateKeyPem,
    chainPems: [orgCa.certificatePem],
  };
  t.deepEqual(
    siteAuthenticodeSigner({ publisher: imported, caCertificatePem: siteCa.certificatePem })
      .chainPems,
    [orgCa.certificatePem],
  );
  // Imported without a chain (a publisher its own root trusts): nothing is added.
  const bare = { ...imported, chainPems: [] };
  t.deepEqual(
    siteAuthenticodeSigner({ publisher: bare, caCertificatePem: siteCa.certificatePem }).chainPems,
    [],
  );
});

test('the kind is read from the first bytes; anything else is invalid_input', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-sign-kind-'));
  try {
    const file = async (name: string, bytes: Buffer): Promise<string> => {
      const p = path.join(dir, name);
      await writeFile(p, bytes);
      return p;
    };
    t.is(await signableKind(await file('a', Buffer.from('MSCF\0\0\0\0'))), 'cab');
    t.is(await signableKind(await file('b', Buffer.from('MZ\x90\0'))), 'pe');
    t.is(await signableKind(await file('c', Buffer.from('d0cf11e0a1b11ae100', 'hex'))), 'msi');
    t.is(await refusal(signableKind(await file('d', Buffer.from('PK\x03\x04')))), 'invalid_input');
    t.is(await refusal(signableKind(await file('e', Buffer.alloc(0)))), 'invalid_input');
    t.is(await refusal(signableKind(path.join(dir, 'missing'))), 'invalid_input');
    t.is(await refusal(signableKind(dir)), 'invalid_input');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
