// The zod-free readers of the state directory (issue 16: a status that starts like a tool).
import { queuedMessages, readState } from './state-check.js';
import { currentVersion } from './current-version.js';
import { certificateFacts } from './native.js';

export interface AgentStatus {
  server: string | null;
  siteCode: string | null;
  clientId: string | null;
  approval: string | null;
  /** Why nothing is deployed, when the site has not approved this client yet. */
  note: string | null;
  /** Native mode: the HTTPS base and the client certificate the site issued (null until then). */
  nativeServer: string | null;
  certificate: { serial: string; notAfter: string } | null;
  agentVersion: string | null;
  installedAgentVersion: string | null;
  lastSync: string | null;
  lastError: string | null;
  installed: Array<{
    updateId: string;
    revision: number;
    product: string;
    version: string;
    at: string;
    rebootPending: boolean;
    /** `already_installed`: found installed (IsInstalled true), so nothing ran. */
    state: 'installed' | 'already_installed';
  }>;
  /** Updates whose rules say this machine does not need them: final, so not pending. */
  notApplicable: Array<{ updateId: string; revision: number; reason: string | null }>;
  pending: Array<{ updateId: string; revision: number; action: string; deadline: string | null }>;
  failed: Array<{
    updateId: string;
    revision: number;
    attempts: number;
    retryAfter: string;
    code: number | null;
    detail: string;
  }>;
  queuedMessages: number;
}

/** `upcat agent status` (issue 6 item 7): what the state directory says, without contacting the site. */
export async function agentStatus(stateDir: string): Promise<AgentStatus> {
  const state = await readState(stateDir);
  const queued = await queuedMessages(stateDir);
  const finalAt = (updateId: string, revision: number): string | undefined => {
    const o = state.outcomes[updateId];
    if (o !== undefined) return o.revision === revision ? o.state : undefined;
    // State written before outcomes were kept: the final state last reported.
    const [rev, reported] = (state.reported[updateId] ?? '').split(':');
    return Number(rev) === revision ? reported : undefined;
  };
  const installed = Object.entries(state.installed).map(([updateId, i]) => ({
    updateId,
    ...i,
    state:
      finalAt(updateId, i.revision) === 'already_installed'
        ? ('already_installed' as const)
        : ('installed' as const),
  }));
  const inPolicy = new Map(state.policy.map((p) => [p.updateId, p.revision] as const));
  const failed = Object.entries(state.failures)
    .filter(([id, f]) => state.installed[id]?.revision !== f.revision)
    .filter(([id, f]) => inPolicy.get(id) === f.revision)
    .map(([updateId, f]) => ({ updateId, ...f }));
  const notApplicable = state.policy
    .filter(
      (p) =>
        p.action !== 'uninstall' &&
        state.installed[p.updateId]?.revision !== p.revision &&
        finalAt(p.updateId, p.revision) === 'not_applicable',
    )
    .map((p) => ({
      updateId: p.updateId,
      revision: p.revision,
      reason: state.outcomes[p.updateId]?.detail ?? null,
    }));
  const notApplicableIds = new Set(notApplicable.map((n) => n.updateId));
  const pending = state.policy
    .filter((p) =>
      p.action === 'uninstall'
        ? state.installed[p.updateId] !== undefined
        : state.installed[p.updateId]?.revision !== p.revision,
    )
    .filter((p) => !notApplicableIds.has(p.updateId))
    .filter((p) => state.failures[p.updateId]?.revision !== p.revision)
    .map((p) => ({
      updateId: p.updateId,
      revision: p.revision,
      action: p.action,
      deadline: p.deadline,
    }));
  return {
    server: state.server ?? null,
    siteCode: state.siteCode ?? null,
    clientId: state.clientId ?? null,
    approval: state.registration?.status ?? null,
    note: noteFor(state.registration?.status),
    nativeServer: state.nativeServer ?? null,
    certificate: (await certificateFacts(stateDir)) ?? null,
    agentVersion: state.agentVersion ?? null,
    installedAgentVersion: (await currentVersion(stateDir)) ?? null,
    lastSync: state.lastSync ?? null,
    lastError: state.lastError ?? null,
    installed,
    notApplicable,
    pending,
    failed,
    queuedMessages: queued,
  };
}

function noteFor(status: string | undefined): string | null {
  if (status === 'pending')
    return 'waiting for approval: the site sends no deployments until an administrator approves this client (upcat clients approve)';
  if (status === 'conflict')
    return 'the site holds this client in a duplicate-hardware conflict: no deployments until an administrator resolves it';
  return null;
}
