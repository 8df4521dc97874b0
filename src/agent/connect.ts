import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, isUpcatError } from '../errors.js';
import { siteCa } from './ca.js';
import {
  certificateRequest,
  clientCertificate,
  clientKey,
  httpsBase,
  keepCertificate,
} from './native.js';
import { SiteClient, type Registered, type SiteInfo } from './site-client.js';
import type { AgentState } from './state.js';

/**
 * Which connection a cycle uses (docs/AGENT.md, "Native mode"). A mixed-mode site: the URL found,
 * with the bearer secret. A native-mode site: its HTTPS port, the site CA pinned, and once the
 * site issued it, the agent's client certificate (mutual TLS) for everything after GET /v1/site.
 */
export interface NativeSession {
  base: string;
  caPem: string;
  keyPem: string;
  /** The request sent at registration (for this key). */
  csr: string;
}

/**
 * The client for a cycle's first request: where a native site was reached last time (so the
 * secret never goes over plain HTTP again), else the URL found. An https URL pins the site CA.
 */
export async function firstClient(
  found: string,
  state: AgentState,
  stateDir: string,
  provisionedCa: string | undefined,
  warnings: string[],
): Promise<SiteClient> {
  const base =
    state.nativeServer !== undefined && state.server === found ? state.nativeServer : found;
  if (!base.startsWith('https:')) return new SiteClient(base, state.secret);
  const caPem = await tlsCa(
    stateDir,
    provisionedCa,
    new SiteClient(base, undefined, { insecure: true }),
    warnings,
  );
  return new SiteClient(base, state.secret, { ca: caPem });
}

/**
 * Switches to the native connection: the HTTPS base (the URL itself when https, else the same
 * host on `httpsPort`, the site's published port, or 8531), the pinned CA, the agent's key
 * (made on first use) and its certificate when it has one.
 */
export async function nativeClient(opts: {
  current: SiteClient;
  info: SiteInfo;
  state: AgentState;
  stateDir: string;
  provisionedCa: string | undefined;
  httpsPort: number | undefined;
  warnings: string[];
}): Promise<{ site: SiteClient; session: NativeSession }> {
  const { current, state, stateDir } = opts;
  const base = current.baseUrl.startsWith('https:')
    ? current.baseUrl
    : httpsBase(current.baseUrl, opts.httpsPort ?? opts.info.httpsPort);
  const caPem =
    current.tls?.ca ?? (await tlsCa(stateDir, opts.provisionedCa, current, opts.warnings));
  const keyPem = await clientKey(stateDir);
  const cert = await clientCertificate(stateDir, keyPem);
  state.nativeServer = base;
  // The site names the certificate by client ID; a fixed subject keeps the request (and so the
  // registration) unchanged from cycle to cycle for the same key.
  const session = { base, caPem, keyPem, csr: certificateRequest(keyPem, 'upcat-agent') };
  return { site: clientFor(session, state, cert), session };
}

/**
 * After registration: keeps a certificate that came with the answer, else asks for it
 * (`GET /v1/clients/:id/certificate`, with the secret) while the agent has none; 404 means
 * not approved yet. Returns the client to use from here on.
 */
export async function withCertificate(
  site: SiteClient,
  session: NativeSession,
  state: AgentState,
  stateDir: string,
  registered: Registered | undefined,
): Promise<SiteClient> {
  let pem = registered?.certificate;
  if (pem === undefined) {
    if (site.hasCertificate || state.clientId === undefined || state.secret === undefined)
      return site;
    pem = await fetchCertificate(site, state.clientId);
    if (pem === undefined) return site;
  }
  await keepCertificate(stateDir, pem, {
    keyPem: session.keyPem,
    caPem: session.caPem,
    clientId: state.clientId ?? '',
  });
  site.close();
  return clientFor(session, state, pem);
}

/**
 * A refused certificate (403 `client_blocked`): revoked when the client was blocked. If the
 * client was unblocked since, the site issued a new certificate from the stored request, which
 * the secret reads; then that one is kept and the client for it returned. Undefined otherwise
 * (still blocked: the refusal stands).
 */
export async function renewedAfterRefusal(
  site: SiteClient,
  session: NativeSession,
  state: AgentState,
  stateDir: string,
): Promise<SiteClient | undefined> {
  if (!site.hasCertificate || state.clientId === undefined || state.secret === undefined)
    return undefined;
  const bare = new SiteClient(session.base, state.secret, { ca: session.caPem });
  let pem: string | undefined;
  try {
    pem = await fetchCertificate(bare, state.clientId);
  } catch {
    return undefined;
  } finally {
    bare.close();
  }
  if (pem === undefined || pem === site.tls?.cert) return undefined;
  return withCertificate(site, session, state, stateDir, {
    clientId: state.clientId,
    secret: state.secret,
    status: 'approved',
    certificate: pem,
  });
}

function clientFor(
  session: NativeSession,
  state: AgentState,
  cert: string | undefined,
): SiteClient {
  return new SiteClient(session.base, state.secret, {
    ca: session.caPem,
    ...(cert === undefined ? {} : { key: session.keyPem, cert }),
  });
}

async function fetchCertificate(site: SiteClient, clientId: string): Promise<string | undefined> {
  try {
    return (await site.certificate(clientId)).certificate;
  } catch (err) {
    if (isUpcatError(err) && err.code === 'not_found') return undefined;
    throw err;
  }
}

/**
 * The site CA for TLS: provisioned, else pinned in `<state>/ca.pem`, else fetched once from
 * `/pki/ca.pem` and pinned (trust on first use; the cycle report warns). The same pin verifies
 * payload signatures.
 */
async function tlsCa(
  stateDir: string,
  provisioned: string | undefined,
  from: SiteClient,
  warnings: string[],
): Promise<string> {
  if (provisioned !== undefined) return siteCa(from, stateDir, provisioned);
  try {
    return await readFile(path.join(stateDir, 'ca.pem'), 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  try {
    const pem = await siteCa(from, stateDir, undefined);
    warnings.push('trusted the site CA on first use for TLS (provision --ca-cert to avoid this)');
    return pem;
  } finally {
    from.close();
  }
}
