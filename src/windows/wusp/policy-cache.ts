/**
 * The effective deployments of a client (sync/policy.ts computePolicy), remembered per client
 * for as long as nothing they depend on moved: the catalog version (deployments, updates) and
 * the client's policy epoch (approval, blocking, groups). Identical policies are shared, so
 * 100,000 computers in a few groups hold a few lists, not 100,000.
 */
import { createHash } from 'node:crypto';
import type { ClientRow } from '../../site/client-repo.js';
import type { PolicyEntry } from '../../sync/policy.js';

interface Held {
  version: number;
  epoch: number;
  approval: string;
  recordState: string;
  policy: PolicyEntry[];
}

export class PolicyCache {
  private readonly byClient = new Map<string, Held>();
  private readonly shared = new Map<string, PolicyEntry[]>();
  private readonly byShape = new Map<string, PolicyEntry[]>();
  private sharedVersion = -1;

  constructor(private readonly capacity: number) {}

  /**
   * `shape`, when given, names everything the policy depends on besides the client's ID (its
   * approval, record state and groups): clients of one shape share one computation. The caller
   * gives none when a deployment rolls out to a percentage, which makes the client ID matter.
   */
  async get(
    client: ClientRow,
    version: number,
    shape: string | undefined,
    compute: () => Promise<PolicyEntry[]>,
  ): Promise<PolicyEntry[]> {
    if (version !== this.sharedVersion) {
      this.shared.clear();
      this.byShape.clear();
      this.sharedVersion = version;
    }
    if (shape !== undefined) {
      const held = this.byShape.get(shape);
      if (held !== undefined) return held;
      const computed = await compute();
      if (version === this.sharedVersion && this.byShape.size < this.capacity)
        this.byShape.set(shape, computed);
      return computed;
    }
    const held = this.byClient.get(client.client_id);
    if (
      held !== undefined &&
      held.version === version &&
      held.epoch === client.policy_epoch &&
      held.approval === client.approval &&
      held.recordState === client.record_state
    ) {
      return held.policy;
    }
    const computed = await compute();
    if (version !== this.sharedVersion) return computed;
    const key = createHash('sha256').update(JSON.stringify(computed)).digest('hex');
    const policy = this.shared.get(key) ?? computed;
    this.shared.set(key, policy);
    this.byClient.delete(client.client_id);
    if (this.byClient.size >= this.capacity) {
      const oldest = this.byClient.keys().next().value;
      if (oldest !== undefined) this.byClient.delete(oldest);
    }
    this.byClient.set(client.client_id, {
      version,
      epoch: client.policy_epoch,
      approval: client.approval,
      recordState: client.record_state,
      policy,
    });
    return policy;
  }
}
