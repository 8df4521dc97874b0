import { createPublicKey, verify } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from '../catalog/canonical-json.js';
import { UpcatError } from '../errors.js';
import { parseWith } from '../validation.js';
import { policyEntrySchema, type AgentPolicyEntry } from './state.js';

export interface PolicyKey {
  keyid: string;
  keytype: string;
  scheme: string;
  keyval: { public: string };
}

const signedSchema = z.object({
  _type: z.literal('upcat-policy'),
  siteCode: z.string(),
  clientId: z.string(),
  status: z.string(),
  catalogVersion: z.number().int(),
  issued: z.string(),
  expires: z.string(),
  full: z.boolean(),
  deployments: z.array(policyEntrySchema),
  removed: z.array(z.string()),
});

const syncBodySchema = z.object({
  policy: z.object({
    signed: z.record(z.string(), z.unknown()),
    signatures: z.array(z.object({ keyid: z.string(), sig: z.string() })),
  }),
  anchor: z.string(),
});

export type PolicyDocument = z.infer<typeof signedSchema>;

/** ed25519 SubjectPublicKeyInfo prefix: the raw 32-byte key follows (RFC 8410). */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * Verifies a `GET /v1/sync` answer (docs/PROTOCOL.md): the ed25519 signature over the canonical
 * JSON of `signed` by the pinned policy key, then that the document is for this client and site
 * and not expired. The signature is checked over the bytes as received (before any parsing that
 * could drop fields), so a field the agent does not know still counts.
 */
export function verifyPolicy(
  body: unknown,
  expect: { key: PolicyKey; clientId: string; siteCode: string; now?: Date },
): { policy: PolicyDocument; anchor: string } {
  const parsed = parseWith(syncBodySchema, body, 'sync answer', 'integrity');
  const { key } = expect;
  if (key.keytype !== 'ed25519' || !/^[0-9a-f]{64}$/.test(key.keyval.public))
    throw new UpcatError('integrity', `policy key ${key.keyid} is not an ed25519 key`);
  const publicKey = createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(key.keyval.public, 'hex')]),
    format: 'der',
    type: 'spki',
  });
  const data = Buffer.from(canonicalJson(parsed.policy.signed), 'utf8');
  const good = parsed.policy.signatures.some(
    (s) =>
      s.keyid === key.keyid &&
      /^[0-9a-f]+$/.test(s.sig) &&
      verify(null, data, publicKey, Buffer.from(s.sig, 'hex')),
  );
  if (!good)
    throw new UpcatError(
      'integrity',
      `the site's policy is not signed by the pinned policy key ${key.keyid}`,
    );
  const policy = parseWith(signedSchema, parsed.policy.signed, 'policy document', 'integrity');
  if (policy.clientId !== expect.clientId)
    throw new UpcatError(
      'integrity',
      `the policy names client ${policy.clientId}, not this client`,
    );
  if (policy.siteCode !== expect.siteCode)
    throw new UpcatError(
      'integrity',
      `the policy is for site ${policy.siteCode}, not ${expect.siteCode}`,
    );
  const now = expect.now ?? new Date();
  if (Date.parse(policy.expires) <= now.getTime())
    // A clock far ahead looks exactly like a stale policy: name this machine's time so the
    // operator can tell which (issue 13 item 8, skewed clock).
    throw new UpcatError(
      'integrity',
      `the policy expired at ${policy.expires}; this machine's clock reads ${now.toISOString()} (if the site is current, check the clock)`,
    );
  return { policy, anchor: parsed.anchor };
}

/** Applies a full or incremental policy document to the policy the agent kept. */
export function mergePolicy(kept: AgentPolicyEntry[], doc: PolicyDocument): AgentPolicyEntry[] {
  const byId = new Map(doc.full ? [] : kept.map((e) => [e.updateId, e] as const));
  for (const id of doc.removed) byId.delete(id);
  for (const entry of doc.deployments) byId.set(entry.updateId, entry);
  return [...byId.values()].sort((a, b) =>
    a.updateId < b.updateId ? -1 : a.updateId > b.updateId ? 1 : 0,
  );
}
