import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { isUpcatError, UpcatError } from '../errors.js';
import type { Outbox, Sender } from './outbox.js';
import type { Facts } from './session.js';
import { isUnreachable, SiteClient } from './site-client.js';
import type { AgentState } from './state.js';

/** What the cycle report counts of the messages (sent, still queued). */
export interface MessageCounts {
  messagesSent: number;
  messagesQueued: number;
}

/**
 * Where a cycle failed: before the client had a verified policy (`session`: discovery, site
 * check, registration, sync), or after it (`catalog`: TUF, deciding, installing).
 */
export type Phase = 'session' | 'catalog';

/**
 * Records a failed cycle and queues the state message that says so (issue 6 item 3): the site
 * cannot be reached, `cannot_reach_site`; the site refused the client or its registration
 * (blocked, incompatible, registration rejected) or anything else stopped the session,
 * `client_install_failed` with the site's HTTP status as the code (what the site's report of
 * failed client installs reads, from the fallback status point); a later step, `failed`.
 */
export async function recordFailure(
  state: AgentState,
  outbox: Outbox,
  err: unknown,
  phase: Phase,
  log: Logger,
): Promise<void> {
  const message = err instanceof Error ? err.message : String(err);
  state.lastError = message;
  state.history.push({ time: new Date().toISOString(), state: 'error', detail: message });
  log.debug({ err: message }, 'agent cycle failed'); // the caller prints the one error line
  if (isUnreachable(err)) {
    await outbox.add({ topic: 'client', state: 'cannot_reach_site', detail: message });
    return;
  }
  const status = isUpcatError(err) ? err.details?.['status'] : undefined;
  await outbox.add({
    topic: 'client',
    state: phase === 'session' ? 'client_install_failed' : 'failed',
    ...(typeof status === 'number' ? { code: status } : {}),
    detail: message,
  });
}

/** Where state messages can go this cycle. */
export interface Route {
  /** The site's client (its secret or certificate), once one was made. */
  site: SiteClient | undefined;
  /** False while a native site's client routes refuse this client (no certificate yet). */
  clientRoutes: boolean;
  /** A fallback status point configured apart from the site. */
  fsp: SiteClient | undefined;
  claims: FallbackClaims;
}

export type FallbackClaims = Extract<Sender, { kind: 'fallback' }>['claims'];

export function claimsOf(facts: Facts, state: AgentState): FallbackClaims {
  return {
    hardwareId: facts.hardwareId,
    ...(state.clientId === undefined ? {} : { clientId: state.clientId }),
    name: facts.name,
    clientVersion: facts.clientVersion,
  };
}

/**
 * Sends queued messages: to /v1/status when the client can authenticate and the session
 * worked; else to the fallback status point `POST /fsp/v1/status` (the configured one, else
 * the site's), which takes messages from clients that are not registered, refused or blocked.
 * The site unreachable: to a separately configured fallback status point, if any. Whatever
 * cannot be sent stays queued for the next cycle.
 */
export async function sendOutbox(
  outbox: Outbox,
  route: Route,
  report: MessageCounts | undefined,
  sessionFailed: boolean,
): Promise<void> {
  let sent = 0;
  const fallback = route.fsp ?? route.site;
  const viaFallback = async (client: SiteClient | undefined): Promise<unknown> => {
    if (client === undefined) return undefined;
    const r = await outbox.flush({ kind: 'fallback', site: client, claims: route.claims });
    sent += r.sent;
    return r.error;
  };
  if (
    route.site === undefined ||
    !route.site.authenticated ||
    !route.clientRoutes ||
    sessionFailed
  ) {
    const error = await viaFallback(fallback);
    // The site's own fallback status point is down too: nothing more to try.
    if (error !== undefined && isUnreachable(error) && fallback === route.fsp)
      await viaFallback(route.site);
  } else {
    const r = await outbox.flush({ kind: 'client', site: route.site });
    sent += r.sent;
    if (r.error !== undefined) await viaFallback(isUnreachable(r.error) ? route.fsp : fallback);
  }
  if (report !== undefined) {
    report.messagesSent += sent;
    report.messagesQueued = outbox.size;
  }
}

/**
 * The client for a fallback status point configured apart from the site. Over https it trusts
 * the site CA when one is provisioned or pinned (a site-run point), else the system's CAs.
 */
export async function fallbackClient(
  raw: string,
  stateDir: string,
  caCert: string | undefined,
  fromFlag: string | undefined,
): Promise<SiteClient> {
  const what =
    fromFlag === undefined ? 'agent.json fallbackStatusPoint' : '--fallback-status-point';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UpcatError('invalid_input', `${what}: "${raw}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UpcatError('invalid_input', `${what}: "${raw}" must be an http or https URL`);
  const base = url.toString().replace(/\/+$/, '');
  if (url.protocol === 'http:') return new SiteClient(base);
  const ca = await readFile(caCert ?? path.join(stateDir, 'ca.pem'), 'utf8').catch(() => undefined);
  return new SiteClient(base, undefined, ca === undefined ? undefined : { ca });
}
