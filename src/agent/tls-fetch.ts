import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import https from 'node:https';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';

/** The TLS side of talking to a site over HTTPS (native mode, docs/AGENT.md). */
export interface TlsOptions {
  /** The site CA (PEM): the only issuer the server certificate may chain to. */
  ca?: string;
  /** The client key and certificate (PEM) presented for mutual TLS, once the site issued one. */
  key?: string;
  cert?: string;
  /**
   * Do not verify the server: only for the one request that fetches the site CA on first use
   * (trust on first use, like the TUF root); everything after is verified against that CA.
   */
  insecure?: boolean;
}

export interface TlsRequestInit {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

const NULL_BODY = new Set([204, 205, 304]);

/**
 * One request over node:https, answered as a fetch `Response`. The global fetch cannot present a
 * client certificate or pin a CA (undici's dispatcher is not reachable from Node's bundled copy),
 * so HTTPS with TLS options goes through here; the callers read the answer the same way.
 * Redirects are not followed (as `redirect: 'error'` for fetch).
 */
export function tlsFetch(
  url: string,
  init: TlsRequestInit,
  tls: TlsOptions,
  agent: https.Agent,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: init.method,
        headers: init.headers,
        agent,
        ...(init.signal === undefined ? {} : { signal: init.signal }),
        ...(tls.ca === undefined ? {} : { ca: tls.ca }),
        ...(tls.key === undefined || tls.cert === undefined
          ? {}
          : { key: tls.key, cert: tls.cert }),
        rejectUnauthorized: tls.insecure !== true,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 599 || (status >= 300 && status < 400 && status !== 304)) {
          res.resume();
          reject(new Error(`unexpected HTTP ${status} from ${url} (redirects are not followed)`));
          return;
        }
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value === undefined) continue;
          for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
        }
        const empty = NULL_BODY.has(status) || init.method === 'HEAD';
        if (empty) res.resume();
        const body = empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
        resolve(new Response(body, { status, statusText: res.statusMessage ?? '', headers }));
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A keep-alive agent per site client, so a cycle's requests share TLS sessions. */
export function tlsAgent(tls: TlsOptions): https.Agent {
  return new https.Agent({
    keepAlive: true,
    maxSockets: 4,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.key === undefined || tls.cert === undefined ? {} : { key: tls.key, cert: tls.cert }),
    rejectUnauthorized: tls.insecure !== true,
    lookup: pinnedLookup,
  });
}

/**
 * Addresses of HTTPS site hosts found through DNS servers named with `--dns-server` (issue 13
 * item 7). Over HTTPS the URL keeps the host name, because the server certificate is checked
 * against it (and sent as SNI); only the connection goes to the address those servers gave, as
 * the system resolver may not know the host at all. One agent process talks to one site, so a
 * table per process is enough.
 */
const pinnedAddresses = new Map<string, string>();

export function pinHostAddress(host: string, address: string): void {
  pinnedAddresses.set(host.toLowerCase(), address);
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family: number,
) => void;

/** `net.connect`'s lookup: a pinned address when there is one, else the system's resolver. */
function pinnedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  const address = pinnedAddresses.get(hostname.toLowerCase());
  if (address === undefined) {
    dns.lookup(hostname, options, callback);
    return;
  }
  const family = isIP(address);
  if (options.all === true) callback(null, [{ address, family }], family);
  else callback(null, address, family);
}
