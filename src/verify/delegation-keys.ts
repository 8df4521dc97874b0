import { verify, type VerifyKeyObjectInput } from 'node:crypto';
import type { Metadata, Targets } from '@tufjs/models';
import { tuf } from './tuf.js';

type Signed = Metadata<Targets>;

/**
 * A delegated key that makes its public key object once. tuf-js's `Key.verifySignature` parses
 * the key again for every signature it checks: for a catalog's 256 bins, all signed by one key,
 * that was a fifth of the bins' verification (issue 16). The check is tuf-js's own
 * (`getPublicKey`, then `crypto.verify` over the canonical JSON of `signed`, as its
 * `utils/verify.ts` does); like `Key.verifySignature`, any failure is a throw, which
 * `verifyDelegate` counts as no signature.
 *
 * A signature this key has verified over exactly the same canonical bytes is not verified again:
 * the answer is a function of (key, bytes, signature), and bins with the same content (every
 * empty bin of a catalog signed at once: 256 byte-identical bins in an empty one, most of them in
 * a small one) each cost a whole Ed25519 verification otherwise, a tenth of `upcat verify
 * --server`'s CPU (issue 16). Only successes are kept, for one run (the key lives as long as the
 * verifier's copy of the delegating targets), and each bin's own bytes are still canonicalized
 * and compared, so a bin whose signed part differs in one byte is checked for real.
 */
class KeyParsedOnce extends tuf.Key {
  private publicKey: VerifyKeyObjectInput | undefined;
  /** Signatures (hex) this key verified, each with the canonical JSON it verified over. */
  private readonly verified = new Map<string, string>();

  override verifySignature(metadata: Signed): void {
    const signature = metadata.signatures[this.keyID];
    if (signature === undefined) throw new Error('no signature for key found in metadata');
    const pub = this.keyVal['public'];
    if (pub === undefined || pub === '') throw new Error('no public key found');
    this.publicKey ??= tuf.getPublicKey({
      keyType: this.keyType,
      scheme: this.scheme,
      keyVal: pub,
    });
    const canonical = tuf.canonicalize(metadata.signed.toJSON());
    if (this.verified.get(signature.sig) === canonical) return;
    if (
      !verify(undefined, Buffer.from(canonical), this.publicKey, Buffer.from(signature.sig, 'hex'))
    )
      throw new Error(`failed to verify ${this.keyID} signature`);
    this.verified.set(signature.sig, canonical);
  }
}

/**
 * The delegating targets' keys replaced by ones parsed once, in place: `targets` must be the
 * verifier's own copy (enumerate.ts parses one), never metadata tuf-js holds.
 */
export function parseDelegatedKeysOnce(targets: Targets): void {
  const keys = targets.delegations?.keys;
  if (keys === undefined) return;
  for (const [id, key] of Object.entries(keys))
    keys[id] = new KeyParsedOnce({
      keyID: key.keyID,
      keyType: key.keyType,
      scheme: key.scheme,
      keyVal: key.keyVal,
      unrecognizedFields: key.unrecognizedFields,
    });
}
