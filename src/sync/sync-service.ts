import type { Logger } from 'pino';
import { canonicalJson } from '../catalog/canonical-json.js';
import type { SiteConfig } from '../config/schema.js';
import type { ClientRow } from '../site/client-repo.js';
import { statusOf, type ClientStatus } from '../site/registration.js';
import type { Signer } from '../signing/signer.js';
import { currentCatalogVersion } from '../storage/catalog-repo.js';
import type { Db } from '../storage/db.js';
import { AnchorSealer, holdingOf, type AnchorState } from './anchor.js';
import type { PolicyEntry } from './policy.js';
import { PolicyCache, type GroupsObserver, type SharedPolicy } from './policy-cache.js';
import { loadAnchorKey, loadPolicySigner, type PolicySigner } from './site-keys.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Anchors older than this give a full sync; policy documents expire after the same time. */
export const ANCHOR_MAX_AGE_MS = 7 * DAY_MS;

export interface PolicyDocument {
  _type: 'upcat-policy';
  siteCode: string;
  clientId: string;
  status: ClientStatus;
  catalogVersion: number;
  issued: string;
  expires: string;
  /** True: `deployments` is the whole policy. False: only what changed since the anchor. */
  full: boolean;
  deployments: PolicyEntry[];
  /** Update IDs that left the client's policy since the anchor. */
  removed: string[];
}

export interface SignedPolicy {
  signed: PolicyDocument;
  signatures: Array<{ keyid: string; sig: string }>;
}

export type SyncResult =
  | { status: 304; anchor: string | undefined }
  | { status: 200; body: { policy: SignedPolicy; anchor: string } };

/**
 * `GET /v1/sync` (issue 5 item 8; DESIGN.md §3 director role). A current anchor whose catalog
 * version and client epoch both match answers 304 without computing policy (the common case,
 * kept to one decryption and one small query). Otherwise the policy is computed and compared
 * with what the anchor holds: unchanged is still 304 (with a fresh anchor); changed is an
 * incremental document when the anchor names its entries, a full one when it holds only the
 * policy's digest (a policy over anchor.ts ENTRY_BUDGET); no usable anchor is a full one.
 * Every document is signed.
 */
/** Who a sync answer is for: what of the client row the signed document and anchor state. */
export interface SyncSubject {
  clientId: string;
  policyEpoch: number;
  status: ClientStatus;
}

interface SyncKeys {
  sealer: AnchorSealer;
  signer: PolicySigner;
}

export class SyncService {
  private keys: Promise<SyncKeys> | undefined;
  /** The keys once loaded, for the synchronous fast path (fast-path.ts). */
  private loaded: SyncKeys | undefined;
  /** The policy shared by the clients of one group set at one catalog version (issue 16). */
  readonly policies = new PolicyCache();
  private groupsObserver: GroupsObserver | undefined;

  constructor(private readonly deps: { db: Db; config: SiteConfig; log: Logger }) {}

  /** The policy signing key's public half (published by GET /v1/site). */
  async policyKey(): Promise<Signer['key']> {
    return (await this.loadKeys()).signer.key;
  }

  /**
   * Loads the anchor and policy keys now rather than at the first sync: a server does this as it
   * starts, so that the first syncs after a start are answered by the fast path (which needs the
   * sealer) instead of all waiting behind the database path (bench/patch-day-storm.ts saw its
   * first 64 wait up to 0.7 s).
   */
  async ready(): Promise<void> {
    await this.loadKeys();
  }

  /** The anchor sealer when the keys are loaded (they are after the first sync or `policyKey`). */
  sealerIfLoaded(): AnchorSealer | undefined {
    return this.loaded?.sealer;
  }

  /** Shows the fast path each client's named groups as the database path reads them. */
  observeGroups(observer: GroupsObserver): void {
    this.groupsObserver = observer;
  }

  /**
   * The nothing-new test of `sync`, on the facts the fast path keeps in memory: the anchor is
   * current when it was issued at this catalog version for this client at its policy epoch.
   */
  static anchorIsCurrent(
    anchor: AnchorState | undefined,
    catalogVersion: number,
    policyEpoch: number,
  ): boolean {
    return anchor?.catalogVersion === catalogVersion && anchor.epoch === policyEpoch;
  }

  async sync(client: ClientRow, anchorText: string | undefined): Promise<SyncResult> {
    const keys = await this.loadKeys();
    const anchor = keys.sealer.open(anchorText, client.client_id);
    // Read with the client row at authentication when it came that way (one query per 304).
    const catalogVersion = client.catalog_version ?? (await currentCatalogVersion(this.deps.db));
    if (SyncService.anchorIsCurrent(anchor, catalogVersion, client.policy_epoch)) {
      return { status: 304, anchor: undefined };
    }
    const policy = await this.policies.of(
      this.deps.db,
      client,
      catalogVersion,
      this.groupsObserver,
    );
    const subject = {
      clientId: client.client_id,
      policyEpoch: client.policy_epoch,
      status: statusOf(client),
    };
    return answer(keys, this.deps.config.site.code, subject, anchor, policy, catalogVersion);
  }

  /**
   * The answer to a sync whose anchor is not current, from a policy already known (the fast path:
   * the client's facts and groups held in memory, the policy from the cache); undefined until the
   * keys are loaded. The same answer `sync` gives.
   */
  answerNow(
    subject: SyncSubject,
    anchor: AnchorState | undefined,
    policy: SharedPolicy,
    catalogVersion: number,
  ): SyncResult | undefined {
    return this.loaded === undefined
      ? undefined
      : answer(this.loaded, this.deps.config.site.code, subject, anchor, policy, catalogVersion);
  }

  private loadKeys(): Promise<SyncKeys> {
    this.keys ??= (async () => {
      const dir = this.deps.config.dirs.signing;
      const [key, signer] = [await loadAnchorKey(dir), await loadPolicySigner(dir)];
      const sealer = new AnchorSealer(key, ANCHOR_MAX_AGE_MS);
      this.loaded = { sealer, signer };
      return this.loaded;
    })();
    this.keys.catch(() => {
      this.keys = undefined; // a failed load (disk full, permissions) is retried on the next sync
    });
    return this.keys;
  }
}

/**
 * The policy compared with what the anchor holds: unchanged is a 304 with a fresh anchor;
 * changed is an incremental document when the anchor names its entries, a full one when it
 * holds only the policy's digest; no usable anchor is a full one. Signed for this client.
 */
function answer(
  keys: SyncKeys,
  siteCode: string,
  subject: SyncSubject,
  anchor: AnchorState | undefined,
  policy: SharedPolicy,
  catalogVersion: number,
): SyncResult {
  const { sealer, signer } = keys;
  const { entries, digests } = policy;
  const next: AnchorState = {
    clientId: subject.clientId,
    catalogVersion,
    epoch: subject.policyEpoch,
    status: subject.status,
    ...holdingOf(digests),
    issued: Date.now(),
  };
  const delta = deltaSince(anchor, policy);
  if (delta === 'unchanged' && anchor?.status === next.status) {
    return { status: 304, anchor: sealer.seal(next) };
  }
  // Unchanged entries with a new status: an empty incremental document carries the status.
  const full = delta === 'whole';
  const changed = delta === 'whole' ? entries : delta === 'unchanged' ? [] : delta.changed;
  const removed = delta === 'whole' || delta === 'unchanged' ? [] : delta.removed;
  const signed: PolicyDocument = {
    _type: 'upcat-policy',
    siteCode,
    clientId: subject.clientId,
    status: subject.status,
    catalogVersion,
    issued: new Date(next.issued).toISOString(),
    expires: new Date(next.issued + ANCHOR_MAX_AGE_MS).toISOString(),
    full,
    deployments: changed,
    removed,
  };
  const sig = signer.signNow(Buffer.from(canonicalJson(signed), 'utf8'));
  return {
    status: 200,
    body: {
      policy: {
        signed,
        signatures: [{ keyid: signer.key.keyid, sig: Buffer.from(sig).toString('hex') }],
      },
      anchor: sealer.seal(next),
    },
  };
}

/**
 * What changed since the anchor: against an anchor that names its entries, the entries whose
 * digest differs and the update IDs that left; against one that holds only the policy's digest,
 * `unchanged` or `whole` (send it all); without a usable anchor, `whole`.
 */
function deltaSince(
  anchor: AnchorState | undefined,
  policy: SharedPolicy,
): 'unchanged' | 'whole' | { changed: PolicyEntry[]; removed: string[] } {
  if (anchor === undefined) return 'whole';
  const { entries, digests } = policy;
  if (anchor.entries === undefined) return anchor.policy === policy.digest ? 'unchanged' : 'whole';
  const held = anchor.entries;
  const changed = entries.filter((e) => held[e.updateId] !== digests[e.updateId]);
  const removed = Object.keys(held)
    .filter((id) => digests[id] === undefined)
    .sort();
  return changed.length === 0 && removed.length === 0 ? 'unchanged' : { changed, removed };
}
