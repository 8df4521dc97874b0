import { randomBytes } from 'node:crypto';
import { mergePolicy, verifyPolicy, type PolicyKey } from '../../../src/agent/policy.js';
import type { AgentPolicyEntry } from '../../../src/agent/state.js';
import { isUpcatError } from '../../../src/errors.js';
import { registration } from '../../helpers/clients.js';

/**
 * Simulated agents that sync through the balancer (issue 15 item 4): each keeps its anchor and
 * the policy it has built from full and incremental answers, and checks every answer with the
 * agent's own verifier against the site's pinned policy key. A node signing with a key of its
 * own would show here as a refused policy, not as a transport error.
 */
export class SimAgent {
  private policy: AgentPolicyEntry[] = [];
  anchor: string | undefined;
  refused: string[] = [];
  transportErrors = 0;

  private constructor(
    readonly clientId: string,
    private readonly secret: string,
  ) {}

  static async register(base: string): Promise<SimAgent> {
    const id = randomBytes(4).toString('hex');
    const res = await fetch(`${base}/v1/clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(registration({ hardwareId: `hw-${id}`, name: `pc-${id}` })),
    });
    if (res.status !== 201) throw new Error(`registration: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { clientId: string; secret: string };
    return new SimAgent(body.clientId, body.secret);
  }

  /** One sync; false when the answer did not arrive (a node died under it). */
  async sync(base: string, key: PolicyKey, siteCode: string): Promise<boolean> {
    const q = this.anchor === undefined ? '' : `?anchor=${encodeURIComponent(this.anchor)}`;
    let res: Response;
    let body: unknown;
    try {
      res = await fetch(`${base}/v1/sync${q}`, {
        headers: { authorization: `Bearer ${this.secret}` },
        signal: AbortSignal.timeout(20_000),
      });
      body = res.status === 200 ? await res.json() : await res.text();
    } catch {
      this.transportErrors++;
      return false;
    }
    if (res.status === 304) return true;
    if (res.status !== 200) {
      this.transportErrors++;
      return false;
    }
    try {
      const { policy, anchor } = verifyPolicy(body, { key, clientId: this.clientId, siteCode });
      this.policy = mergePolicy(this.policy, policy);
      this.anchor = anchor;
    } catch (err) {
      this.refused.push(isUpcatError(err) ? err.message : String(err));
    }
    return true;
  }

  holds(): string[] {
    return this.policy.map((e) => e.updateId);
  }
}
