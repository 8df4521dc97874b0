import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { UpcatError } from '../../errors.js';
import { OID } from './oids.js';

/**
 * Who signs: the publisher certificate, the certificates that lead from it to a root (issuer
 * first; they go into the signature so a verifier can build the chain), and its private key. The
 * site's own publisher (SiteSigning.publisher + the site CA) and an operator's imported one both
 * fit: `{ ...publisher, chainPems: [caPem] }`.
 */
export interface AuthenticodeSigner {
  certificatePem: string;
  chainPems: readonly string[];
  privateKeyPem: string;
}

/** A signer checked once: parsed certificate and key, ready for any number of signatures. */
export interface PreparedSigner {
  certificate: X509Certificate;
  chain: X509Certificate[];
  key: KeyObject;
}

/**
 * Refuses a signer Windows would not accept as a code-signing publisher: no codeSigning EKU,
 * not valid at `at`, a key that is not RSA (PKCS#1 v1.5 is what this signer writes) or that does
 * not belong to the certificate.
 */
export function prepareSigner(signer: AuthenticodeSigner, at: Date = new Date()): PreparedSigner {
  const certificate = parseCertificate(signer.certificatePem, 'publisher certificate');
  const chain = signer.chainPems.map((pem, i) => parseCertificate(pem, `chain certificate ${i}`));
  let key: KeyObject;
  try {
    key = createPrivateKey(signer.privateKeyPem);
  } catch (err) {
    throw new UpcatError('invalid_config', 'publisher private key is not a readable PEM key', {
      cause: err,
    });
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new UpcatError('invalid_config', 'publisher key must be RSA for Authenticode signing');
  if (!certificate.checkPrivateKey(key))
    throw new UpcatError('invalid_config', 'publisher private key does not match its certificate');
  const usage = certificate.keyUsage;
  if (usage === undefined || !usage.includes(OID.codeSigning))
    throw new UpcatError(
      'invalid_config',
      `publisher certificate ${certificate.subject.replace(/\n/g, ', ')} lacks the codeSigning extended key usage`,
    );
  if (at < new Date(certificate.validFrom) || at > new Date(certificate.validTo))
    throw new UpcatError(
      'invalid_config',
      `publisher certificate is not valid now (${certificate.validFrom} to ${certificate.validTo})`,
    );
  return { certificate, chain, key };
}

function parseCertificate(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new UpcatError('invalid_config', `${what} is not a readable X.509 certificate`, {
      cause: err,
    });
  }
}
