import type { VerifyKeyObjectInput } from 'node:crypto';
import { Key, type Metadata, type Targets } from '@tufjs/models';
import { getPublicKey } from '@tufjs/models/dist/utils/key.js';
import { verifySignature } from '@tufjs/models/dist/utils/verify.js';

type Signed = Metadata<Targets>;

/**
 * A delegated key that makes its public key object once. tuf-js's `Key.verifySignature` parses
 * the key again for every signature it checks: for a catalog's 256 bins, all signed by one key,
 * that was a fifth of the bins' verification (issue 16). The check itself is tuf-js's own
 * (`getPublicKey`, then `verifySignature` over the canonical JSON of `signed`); like
 * `Key.verifySignature`, any failure is a throw, which `verifyDelegate` counts as no signature.
 */
class KeyParsedOnce extends Key {
  private publicKey: VerifyKeyObjectInput | undefined;

  override verifySignature(metadata: Signed): void {
    const signature = metadata.signatures[this.keyID];
    if (signature === undefined) throw new Error('no signature for key found in metadata');
    const pub = this.keyVal['public'];
    if (pub === undefined || pub === '') throw new Error('no public key found');
    this.publicKey ??= getPublicKey({ keyType: this.keyType, scheme: this.scheme, keyVal: pub });
    if (!verifySignature(metadata.signed.toJSON(), this.publicKey, signature.sig))
      throw new Error(`failed to verify ${this.keyID} signature`);
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
