import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import test from 'ava';
import { refusalCode } from '../../../helpers/authenticode.js';
import fc from 'fast-check';
import { createCa, issueCertificate, type KeyPairPem } from '../../../../src/signing/ca.js';
import { OID } from '../../../../src/windows/authenticode/oids.js';
import { parseAuthenticode } from '../../../../src/windows/authenticode/parse.js';
import { buildSignature, obsoleteLink } from '../../../../src/windows/authenticode/signature.js';
import {
  prepareSigner,
  type AuthenticodeSigner,
} from '../../../../src/windows/authenticode/signer.js';
import { checkSigner } from '../../../../src/windows/authenticode/trust.js';

const ca = createCa({ subject: { commonName: 'Unit CA' }, modulusLength: 2048 });
const keys = rsaPem();
const signer: AuthenticodeSigner = {
  certificatePem: issue(ca, 'codeSigning'),
  chainPems: [ca.certificatePem],
  privateKeyPem: keys.privateKeyPem,
};
const digest = Buffer.alloc(32, 0xab);
const block = buildSignature(
  { dataType: OID.spcCabData, dataValue: obsoleteLink(), digest },
  prepareSigner(signer),
);
const trusted = [new X509Certificate(ca.certificatePem)];

function rsaPem(): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function issue(
  issuer: KeyPairPem,
  usage: 'codeSigning' | 'clientAuth',
  publicKeyPem = keys.publicKeyPem,
): string {
  return issueCertificate(issuer, {
    subject: { commonName: 'Unit publisher' },
    publicKey: { pem: publicKeyPem },
    usage,
  });
}

const code = refusalCode;

test('the block reads back: SPC_CAB_DATA, the digest, one signer, its chain', (t) => {
  const parsed = parseAuthenticode(block);
  t.is(parsed.dataType, OID.spcCabData);
  t.true(parsed.fileDigest.equals(digest));
  t.is(parsed.fileDigestAlgorithm, 'sha256');
  t.is(parsed.certificates.length, 2);
  t.is(parsed.signer.contentType, OID.spcIndirectData);
  t.truthy(parsed.signer.signingTime);
  const { certificate } = checkSigner(parsed, trusted, new Date());
  t.is(certificate.fingerprint256, new X509Certificate(signer.certificatePem).fingerprint256);
});

test('any corruption of the block is refused with a coded error, never a crash', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(block.length - 1), fc.integer({ min: 1, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.option(fc.nat(block.length), { nil: undefined }),
      (flips, cut) => {
        const copy = Buffer.from(block.subarray(0, cut ?? block.length));
        for (const [at, x] of flips) if (at < copy.length) copy[at] = (copy[at] as number) ^ x;
        const result = code(() => checkSigner(parseAuthenticode(copy), trusted, new Date()));
        // A flip inside the embedded copy of the CA can leave it valid (the anchor comes from
        // `trusted`); anything else must be one of the coded refusals.
        return ['accepted', 'malformed_signature', 'tampered', 'untrusted_publisher'].includes(
          result,
        );
      },
    ),
    { numRuns: 400 },
  );
  t.pass();
});

test('every single-byte flip of the block gives a coded answer (exhaustive)', (t) => {
  const answers = new Set<string>();
  for (let at = 0; at < block.length; at++)
    for (const x of [0x01, 0x80]) {
      const copy = Buffer.from(block);
      copy[at] = (copy[at] as number) ^ x;
      answers.add(code(() => checkSigner(parseAuthenticode(copy), trusted, new Date())));
    }
  for (const a of answers)
    t.true(['accepted', 'malformed_signature', 'tampered', 'untrusted_publisher'].includes(a), a);
  t.true(answers.has('tampered') && answers.has('malformed_signature'));
});

test('signed content and attributes are bound: a changed digest or attribute is tampered', (t) => {
  const parsed = parseAuthenticode(block);
  const changed = Buffer.from(block);
  // The file digest sits inside SpcIndirectDataContent, whose hash is the messageDigest attribute.
  const at = changed.indexOf(digest);
  changed[at] = (changed[at] as number) ^ 1;
  t.is(
    code(() => checkSigner(parseAuthenticode(changed), trusted, new Date())),
    'tampered',
  );
  const attrs = Buffer.from(block);
  const time = attrs.indexOf(Buffer.from(parsed.signer.signedAttributes.subarray(10, 20)));
  attrs[time] = (attrs[time] as number) ^ 1;
  t.not(
    code(() => checkSigner(parseAuthenticode(attrs), trusted, new Date())),
    'accepted',
  );
});

test('prepareSigner refuses keys and certificates Windows would not accept', (t) => {
  t.is(
    code(() => prepareSigner({ ...signer, certificatePem: 'nope' })),
    'invalid_config',
  );
  t.is(
    code(() => prepareSigner({ ...signer, privateKeyPem: 'nope' })),
    'invalid_config',
  );
  t.is(
    code(() => prepareSigner({ ...signer, privateKeyPem: rsaPem().privateKeyPem })),
    'invalid_config',
  );
  t.is(
    code(() => prepareSigner({ ...signer, certificatePem: issue(ca, 'clientAuth') })),
    'invalid_config',
  );
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  t.is(
    code(() =>
      prepareSigner({
        ...signer,
        privateKeyPem: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      }),
    ),
    'invalid_config',
  );
  t.is(
    code(() => prepareSigner(signer, new Date(Date.now() + 5 * 365 * 86400_000))),
    'invalid_config',
  );
  t.is(
    code(() => prepareSigner(signer)),
    'accepted',
  );
});
