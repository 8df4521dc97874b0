import { X509Certificate } from 'node:crypto';
import type Forge from 'node-forge';
import { loadForge } from './forge-lazy.js';

/**
 * The certification path from a payload signer to the pinned site CA (RFC 5280 §6.1, reduced to
 * what payload signatures need). The signer is either issued by the site CA directly (the site's
 * own publisher), or by an organization CA that the site CA cross-certified when the operator ran
 * `upcat keys import-publisher` (src/signing/payload-cross-cert.ts); the intermediates and the
 * cross-certificate ride in the SignedData. Nothing but the pinned site CA is a trust anchor:
 * certificates in the signature are only candidates, each of which must verify under the next.
 *
 * Every CA on the path must be a CA (basicConstraints), valid now, within its pathLenConstraint,
 * and, when it states extended key usages, allow codeSigning (or any): the site CA's
 * cross-certificate states codeSigning only. Says whether there is a path, and if not, why not.
 */
const CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const ANY_EKU = '2.5.29.37.0';
/** Organization chains have one or two CAs; the cross-certificate adds one. */
const MAX_DEPTH = 6;

export function pathToSiteCa(
  signer: X509Certificate,
  candidates: readonly X509Certificate[],
  ca: X509Certificate,
  now: Date,
): { ok: true } | { ok: false; why: string } {
  let current = signer;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (issuedBy(current, ca)) return { ok: true };
    const issuers = candidates.filter((c) => c !== current && issuedBy(current, c));
    const next = issuers.find((c) => unusable(c, depth, now) === undefined);
    if (next === undefined) {
      const first = issuers[0];
      const why =
        first === undefined
          ? `no issuer of ${name(current)} leads to it`
          : `${name(first)}: ${unusable(first, depth, now) ?? ''}`;
      return { ok: false, why };
    }
    // A self-signed certificate in the signature is never an anchor: only the pinned CA is.
    if (issuedBy(next, next)) return { ok: false, why: `the chain ends at ${name(next)}` };
    current = next;
  }
  return { ok: false, why: `no path within ${MAX_DEPTH} certificates` };
}

/**
 * Whether `parent` issued `child` (names and signature), remembered per pair: certificates are
 * immutable and parsed once by the caller, and `upcat verify` asks this for the same publisher
 * and CA once per payload (issue 16). Validity in time is not part of it (see `unusable`).
 */
const issued = new WeakMap<X509Certificate, WeakMap<X509Certificate, boolean>>();

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  let parents = issued.get(child);
  if (parents === undefined) issued.set(child, (parents = new WeakMap()));
  let yes = parents.get(parent);
  if (yes === undefined) {
    yes = child.checkIssued(parent) && child.verify(parent.publicKey);
    parents.set(parent, yes);
  }
  return yes;
}

/** Why `c` cannot issue with `below` CA certificates under it on the path, or undefined. */
function unusable(c: X509Certificate, below: number, now: Date): string | undefined {
  if (!c.ca) return 'not a CA certificate';
  if (now < new Date(c.validFrom) || now > new Date(c.validTo))
    return `not valid now (${c.validFrom} to ${c.validTo})`;
  const usages: readonly string[] | undefined = c.keyUsage;
  if (usages !== undefined && !usages.includes(CODE_SIGNING) && !usages.includes(ANY_EKU))
    return 'its extended key usage does not allow code signing';
  const pathLen = pathLenOf(c);
  if (pathLen !== undefined && below > pathLen)
    return `its path length constraint (${pathLen}) is exceeded`;
  return undefined;
}

/** basicConstraints pathLenConstraint (RFC 5280 §4.2.1.9), read from the DER. */
function pathLenOf(c: X509Certificate): number | undefined {
  const forge = loadForge();
  const asn1 = forge.asn1;
  const root = asn1.fromDer(forge.util.createBuffer(c.raw.toString('binary')));
  const kids = (n: Forge.asn1.Asn1 | undefined): Forge.asn1.Asn1[] =>
    n !== undefined && Array.isArray(n.value) ? (n.value as Forge.asn1.Asn1[]) : [];
  const tbs = kids(kids(root)[0]);
  const exts = tbs.find((n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 3);
  for (const ext of kids(kids(exts)[0])) {
    const parts = kids(ext);
    const id = parts[0];
    if (id?.type !== asn1.Type.OID || typeof id.value !== 'string') continue;
    if (asn1.derToOid(forge.util.createBuffer(id.value)) !== '2.5.29.19') continue;
    const value = parts[parts.length - 1]?.value;
    if (typeof value !== 'string') return undefined;
    const len = kids(asn1.fromDer(forge.util.createBuffer(value))).find(
      (n) => n.type === asn1.Type.INTEGER,
    );
    return typeof len?.value === 'string'
      ? Number.parseInt(Buffer.from(len.value, 'binary').toString('hex') || '0', 16)
      : undefined;
  }
  return undefined;
}

function name(c: X509Certificate): string {
  return c.subject.replace(/\n/g, ', ');
}
