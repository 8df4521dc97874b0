import { createHash } from 'node:crypto';
import { UpcatError, isUpcatError } from '../errors.js';
import { compareVersions } from '../rules/version.js';
import { mergePolicy, verifyPolicy, type PolicyKey } from './policy.js';
import type { Registered, Registration, SiteClient, SiteInfo } from './site-client.js';
import type { AgentState } from './state.js';

export const PROTOCOL_VERSION = '1.0';

/** What the agent says about its machine when it registers (the protocol version is added). */
export type Facts = Omit<Registration, 'protocolVersion'>;

/**
 * Site compatibility before anything is written (issue 6 item 1): this agent speaks protocol
 * 1.x, in mixed mode (a bearer secret) and native mode (a client certificate over mutual TLS);
 * a site that wants a newer agent says which.
 */
export function checkSite(info: SiteInfo, agentVersion: string): void {
  const major = PROTOCOL_VERSION.split('.')[0];
  const spoken = info.protocolVersions ?? ['1.0'];
  if (!spoken.some((v) => v.split('.')[0] === major))
    throw new UpcatError(
      'incompatible_site',
      `the site speaks protocol ${spoken.join(', ')}; this agent speaks ${PROTOCOL_VERSION}`,
    );
  const order = compareVersions(agentVersion, info.minimumClientVersion);
  if (order === undefined || order < 0)
    throw new UpcatError(
      'incompatible_site',
      `this agent (${agentVersion}) is below the site's minimum client version ${info.minimumClientVersion}: install ${info.minimumClientVersion} or later`,
    );
}

/** The policy key: provisioned, else pinned at first contact; a changed key is refused. */
export function pinPolicyKey(
  state: AgentState,
  info: SiteInfo,
  provisioned: PolicyKey | undefined,
): PolicyKey {
  const key = provisioned ?? state.policyKey ?? info.policyKey;
  if (key === undefined)
    throw new UpcatError('incompatible_site', 'the site publishes no policy key in GET /v1/site');
  if (info.policyKey !== undefined && info.policyKey.keyid !== key.keyid)
    throw new UpcatError(
      'integrity',
      `the site's policy key ${info.policyKey.keyid} is not the pinned key ${key.keyid}: refusing its policy (re-provision the agent if the site rotated it)`,
    );
  state.policyKey = key;
  return key;
}

/**
 * Registers when the agent has no client ID, or re-registers (same ID, with the secret) when its
 * facts changed: a new version after a self-upgrade, a new group, new hardware, in native mode
 * a new certificate request. A secret the site no longer knows (record replaced or removed)
 * gives one fresh registration. Returns the site's answer, or undefined when nothing was sent.
 */
export async function ensureRegistered(
  site: SiteClient,
  state: AgentState,
  facts: Facts,
): Promise<Registered | undefined> {
  const r = state.registration;
  const csrDigest =
    facts.csr === undefined ? undefined : createHash('sha256').update(facts.csr).digest('hex');
  const same =
    r !== undefined &&
    state.clientId !== undefined &&
    r.hardwareId === facts.hardwareId &&
    r.clientVersion === facts.clientVersion &&
    r.group === facts.group &&
    (csrDigest === undefined || r.csrDigest === csrDigest);
  if (same) return undefined;
  const body = {
    hardwareId: facts.hardwareId,
    name: facts.name,
    os: facts.os,
    architecture: facts.architecture,
    clientVersion: facts.clientVersion,
    protocolVersion: PROTOCOL_VERSION,
    ...(facts.group === undefined ? {} : { group: facts.group }),
    ...(facts.enrollmentToken === undefined ? {} : { enrollmentToken: facts.enrollmentToken }),
    ...(facts.csr === undefined ? {} : { csr: facts.csr }),
  };
  let answer: Registered;
  try {
    answer = await site.register(body);
  } catch (err) {
    const stale =
      isUpcatError(err) && (err.code === 'unauthorized' || err.code === 'client_replaced');
    if (!(stale && state.secret !== undefined)) throw err;
    forget(state, site);
    answer = await site.register(body);
  }
  if (answer.clientId !== state.clientId) {
    state.anchor = undefined;
    state.policy = [];
  }
  state.clientId = answer.clientId;
  state.secret = answer.secret;
  site.setSecret(answer.secret);
  state.registration = {
    hardwareId: facts.hardwareId,
    clientVersion: facts.clientVersion,
    ...(facts.group === undefined ? {} : { group: facts.group }),
    status: answer.status,
    ...(csrDigest === undefined ? {} : { csrDigest }),
  };
  return answer;
}

/** Drops the credentials (the site no longer knows them). */
export function forget(state: AgentState, site: SiteClient): void {
  delete state.secret;
  delete state.clientId;
  delete state.registration;
  state.anchor = undefined;
  state.policy = [];
  site.setSecret(undefined);
}

/** One `GET /v1/sync`: verifies and merges a new policy into the state. */
export async function syncPolicy(
  site: SiteClient,
  state: AgentState,
  key: PolicyKey,
  siteCode: string,
): Promise<'full' | 'incremental' | 'unchanged'> {
  const answer = await site.sync(state.anchor);
  if (answer.status === 304) {
    if (answer.anchor !== undefined) state.anchor = answer.anchor;
    return 'unchanged';
  }
  const { policy, anchor } = verifyPolicy(answer.body, {
    key,
    clientId: state.clientId ?? '',
    siteCode,
  });
  state.policy = mergePolicy(state.policy, policy);
  state.anchor = anchor;
  if (state.registration !== undefined) state.registration.status = policy.status;
  return policy.full ? 'full' : 'incremental';
}
