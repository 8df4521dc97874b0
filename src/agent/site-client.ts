import type https from 'node:https';
import { UpcatError, type ErrorCode } from '../errors.js';
import { tlsAgent, tlsFetch, type TlsOptions } from './tls-fetch.js';

/** The site could not be reached at all (connection refused, reset, timeout, DNS). */
export class SiteUnreachableError extends UpcatError {
  constructor(url: string, cause: unknown) {
    super('internal', `cannot reach the site at ${url}: ${describeCause(cause)}`, { cause });
    this.name = 'SiteUnreachableError';
  }
}

export function isUnreachable(err: unknown): boolean {
  return err instanceof SiteUnreachableError;
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = (cause as Error & { cause?: unknown }).cause;
    if (inner instanceof Error) return `${cause.message} (${inner.message})`;
    return cause.message;
  }
  return String(cause);
}

const KNOWN_CODES = new Set<ErrorCode>([
  'invalid_input',
  'invalid_config',
  'not_found',
  'conflict',
  'too_large',
  'unauthorized',
  'forbidden',
  'client_blocked',
  'client_replaced',
  'certificate_required',
  'incompatible_site',
  'rate_limited',
  'request_timeout',
  'integrity',
  'internal',
]);

export interface SiteInfo {
  siteCode: string;
  siteName: string;
  siteVersion: string;
  mode: 'mixed' | 'native';
  minimumClientVersion: string;
  catalogVersion: number;
  protocolVersions?: string[];
  /** Native mode: the HTTPS (mutual TLS) port, when the site publishes it. */
  httpsPort?: number;
  tufRoot?: string;
  policyKey?: { keyid: string; keytype: string; scheme: string; keyval: { public: string } };
  installationProperties?: Record<string, string>;
}

export interface Registration {
  hardwareId: string;
  name: string;
  os: string;
  architecture: string;
  clientVersion: string;
  group?: string;
  protocolVersion: string;
  enrollmentToken?: string;
  /** Native mode: a PEM PKCS#10 request for the client certificate. */
  csr?: string;
}

export interface Registered {
  clientId: string;
  secret: string;
  status: string;
  /** Native mode: the client certificate, when approval issued it with this answer. */
  certificate?: string;
}

export interface StateMessage {
  id: string;
  topic: 'update' | 'client';
  updateId?: string;
  revision?: number;
  state: string;
  code?: number;
  detail?: string;
  time?: string;
}

/** The header naming the agent's hardware ID on `GET /v1/sync` and `POST /v1/status`. */
export const HARDWARE_ID_HEADER = 'upcat-hardware-id';

/** Largest JSON answer the agent reads from the site (policy documents included). */
const MAX_JSON_BYTES = 16 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 60_000;

/**
 * The site's client API (docs/PROTOCOL.md) over fetch. Error answers become UpcatErrors with the
 * site's own code, so the caller decides by code (blocked, incompatible, unauthorized) what to do.
 * With TLS options (an https site: the pinned CA, and in native mode the client certificate) the
 * requests go through node:https instead; a client certificate, when present, is the identity
 * the site uses (the secret, if any, still goes along: it is what reads sensitive properties).
 */
export class SiteClient {
  private agent: https.Agent | undefined;
  private hardwareId: string | undefined;

  constructor(
    readonly baseUrl: string,
    private secret?: string,
    readonly tls?: TlsOptions,
  ) {}

  setSecret(secret: string | undefined): void {
    this.secret = secret;
  }

  /**
   * The hardware ID sent as `Upcat-Hardware-Id` with every sync and status report, so the site
   * can tell a cloned disk (same secret, other hardware) from the machine it registered.
   */
  identify(hardwareId: string): void {
    this.hardwareId = hardwareId;
  }

  private identity(): Record<string, string> {
    return this.hardwareId === undefined ? {} : { [HARDWARE_ID_HEADER]: this.hardwareId };
  }

  /** Whether requests carry an identity (a secret, or a client certificate over mutual TLS). */
  get authenticated(): boolean {
    return this.hasCertificate || (this.secret !== undefined && this.secret !== '');
  }

  get hasCertificate(): boolean {
    return this.tls?.cert !== undefined && this.tls.key !== undefined;
  }

  /** Closes kept-alive TLS connections (end of a cycle). */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  async site(): Promise<SiteInfo> {
    return (await this.json('GET', '/v1/site')) as SiteInfo;
  }

  async register(body: Registration): Promise<Registered> {
    return (await this.json('POST', '/v1/clients', body)) as Registered;
  }

  /** Native mode: the client's certificate once approval issued it (404 `not_found` before). */
  async certificate(clientId: string): Promise<{ serial: string; certificate: string }> {
    return (await this.json('GET', `/v1/clients/${encodeURIComponent(clientId)}/certificate`)) as {
      serial: string;
      certificate: string;
    };
  }

  /** 200: the body; 304: nothing new, with a fresher anchor when the site sent one. */
  async sync(
    anchor: string | undefined,
  ): Promise<{ status: 200; body: unknown } | { status: 304; anchor: string | undefined }> {
    const q = anchor === undefined ? '' : `?anchor=${encodeURIComponent(anchor)}`;
    const res = await this.request('GET', `/v1/sync${q}`, undefined, true, this.identity());
    if (res.status === 304)
      return { status: 304, anchor: res.headers.get('x-upcat-anchor') ?? undefined };
    return { status: 200, body: await this.readJson(res, '/v1/sync') };
  }

  async status(messages: StateMessage[]): Promise<void> {
    const res = await this.request('POST', '/v1/status', { messages }, true, this.identity());
    await this.readJson(res, '/v1/status');
  }

  async fallbackStatus(
    claims: { hardwareId: string; clientId?: string; name: string; clientVersion: string },
    messages: StateMessage[],
  ): Promise<void> {
    await this.json('POST', '/fsp/v1/status', { ...claims, messages }, false);
  }

  async text(pathname: string, maxBytes: number): Promise<Buffer> {
    const res = await this.request('GET', pathname, undefined, false);
    return readCapped(res, maxBytes, pathname);
  }

  private async json(
    method: string,
    pathname: string,
    body?: unknown,
    authenticate = true,
  ): Promise<unknown> {
    return this.readJson(await this.request(method, pathname, body, authenticate), pathname);
  }

  async request(
    method: string,
    pathname: string,
    body?: unknown,
    authenticate = true,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const res = await this.send(method, pathname, body, authenticate, headers);
    if (res.status >= 400) throw await siteError(res, pathname);
    return res;
  }

  /** One request, whatever its status (the TUF fetcher maps statuses itself). */
  async send(
    method: string,
    pathname: string,
    body?: unknown,
    authenticate = true,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const url = `${this.baseUrl}${pathname}`;
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    if (authenticate && this.secret !== undefined && this.secret !== '')
      h['authorization'] = `Bearer ${this.secret}`;
    const init = {
      method,
      headers: h,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    };
    try {
      if (this.tls !== undefined && url.startsWith('https:')) {
        this.agent ??= tlsAgent(this.tls);
        return await tlsFetch(url, init, this.tls, this.agent);
      }
      return await fetch(url, { ...init, redirect: 'error' });
    } catch (err) {
      if (isTlsTrustError(err))
        throw new UpcatError(
          'integrity',
          `the site at ${this.baseUrl} presented a TLS certificate that does not verify against the pinned site CA (${(err as Error).message})`,
          { cause: err },
        );
      throw new SiteUnreachableError(this.baseUrl, err);
    }
  }

  private async readJson(res: Response, pathname: string): Promise<unknown> {
    const what = pathname.split('?')[0] ?? pathname;
    const bytes = await readCapped(res, MAX_JSON_BYTES, what);
    try {
      return JSON.parse(bytes.toString('utf8')) as unknown;
    } catch {
      throw new UpcatError(
        'integrity',
        `the site answered ${what} with something that is not JSON`,
      );
    }
  }
}

/** Node's codes for a server certificate that fails verification (not a network failure). */
const TLS_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function isTlsTrustError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TLS_TRUST_CODES.has(code);
}

export async function readCapped(res: Response, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  if (res.body === null) return Buffer.alloc(0);
  for await (const chunk of res.body) {
    total += chunk.length;
    if (total > maxBytes) {
      await res.body.cancel().catch(() => undefined);
      throw new UpcatError('too_large', `${what}: the site's answer is over ${maxBytes} bytes`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

async function siteError(res: Response, pathname: string): Promise<UpcatError> {
  let code: ErrorCode = res.status >= 500 ? 'internal' : 'invalid_input';
  let message = `HTTP ${res.status}`;
  try {
    const body = JSON.parse((await readCapped(res, 64 * 1024, pathname)).toString('utf8')) as {
      error?: { code?: string; message?: string };
    };
    if (body.error?.code !== undefined && KNOWN_CODES.has(body.error.code as ErrorCode))
      code = body.error.code as ErrorCode;
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    // not a JSON error body: keep the status line
  }
  return new UpcatError(
    code,
    `the site refused ${pathname.split('?')[0] ?? pathname}: ${message} (${code})`,
    {
      details: { status: res.status },
    },
  );
}
