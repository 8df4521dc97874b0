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
  private sharedVersion = -1;

  constructor(private readonly capacity: number) {}

  async get(
    client: ClientRow,
    version: number,
    compute: () => Promise<PolicyEntry[]>,
  ): Promise<PolicyEntry[]> {
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
    if (version !== this.sharedVersion) {
      this.shared.clear();
      this.sharedVersion = version;
    }
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
