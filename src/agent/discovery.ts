import { promises as dns, type SrvRecord } from 'node:dns';
import { readFile } from 'node:fs/promises';
import { UpcatError } from '../errors.js';

/** How the agent found its site, for `upcat agent status` and messages. */
export type SiteSource = 'command line' | 'agent.json' | 'UPCAT_SERVER' | 'dns srv' | 'state';

export interface Discovered {
  url: string;
  source: SiteSource;
}

export interface DiscoveryInputs {
  /** `--server` */
  flag?: string;
  /** `server` in the provisioned agent.json */
  provisioned?: string;
  env?: NodeJS.ProcessEnv;
  /** `--domain`; else the first search domain of resolv.conf */
  domain?: string;
  /** The server the state remembers (a site found once is kept when discovery is silent). */
  remembered?: string;
  resolveSrv?: (name: string) => Promise<SrvRecord[]>;
  readResolvConf?: () => Promise<string>;
}

export const SRV_PREFIX = '_upcat._tcp.';

/**
 * Finds the site (issue 6 item 1), in this order: the command line, the provisioned agent.json,
 * `UPCAT_SERVER`, then a DNS SRV record `_upcat._tcp.<domain>` (the lowest priority, then the
 * highest weight wins). The last site that worked is the fallback when DNS says nothing.
 */
export async function discoverSite(inputs: DiscoveryInputs): Promise<Discovered> {
  if (inputs.flag !== undefined)
    return { url: normalize(inputs.flag, '--server'), source: 'command line' };
  if (inputs.provisioned !== undefined)
    return { url: normalize(inputs.provisioned, 'agent.json server'), source: 'agent.json' };
  const env = inputs.env?.['UPCAT_SERVER'];
  if (env !== undefined && env !== '')
    return { url: normalize(env, 'UPCAT_SERVER'), source: 'UPCAT_SERVER' };
  const domain =
    inputs.domain ?? (await searchDomain(inputs.readResolvConf ?? readSystemResolvConf));
  if (domain !== undefined) {
    const url = await fromSrv(domain, inputs.resolveSrv ?? ((n) => dns.resolveSrv(n)));
    if (url !== undefined) return { url, source: 'dns srv' };
  }
  if (inputs.remembered !== undefined) return { url: inputs.remembered, source: 'state' };
  throw new UpcatError(
    'invalid_input',
    `no site: pass --server URL, provision agent.json "server", set UPCAT_SERVER, or publish a DNS SRV record ${SRV_PREFIX}<domain>${domain === undefined ? ' (no search domain found in /etc/resolv.conf; pass --domain)' : ` (none for ${domain})`}`,
  );
}

function normalize(raw: string, what: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UpcatError(
      'invalid_input',
      `${what}: "${raw}" is not a URL such as http://upcat.example.com:8530`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UpcatError('invalid_input', `${what}: "${raw}" must be an http or https URL`);
  return url.toString().replace(/\/+$/, '');
}

async function fromSrv(
  domain: string,
  resolveSrv: (name: string) => Promise<SrvRecord[]>,
): Promise<string | undefined> {
  let records: SrvRecord[];
  try {
    records = await resolveSrv(`${SRV_PREFIX}${domain}`);
  } catch {
    return undefined; // NXDOMAIN, no DNS: discovery falls through
  }
  const best = [...records].sort((a, b) => a.priority - b.priority || b.weight - a.weight)[0];
  if (best === undefined) return undefined;
  const host = best.name.replace(/\.$/, '');
  // Port 8531 is the site's TLS port by convention (as WSUS uses); anything else is plain HTTP.
  const scheme = best.port === 8531 || best.port === 443 ? 'https' : 'http';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${best.port}`;
}

/** The first domain of the last `search` (or `domain`) line of resolv.conf. */
export async function searchDomain(read: () => Promise<string>): Promise<string | undefined> {
  let text: string;
  try {
    text = await read();
  } catch {
    return undefined;
  }
  let found: string | undefined;
  for (const line of text.split('\n')) {
    const [key, first] = line.trim().split(/\s+/);
    if ((key === 'search' || key === 'domain') && first !== undefined && first !== '.')
      found = first;
  }
  return found;
}

function readSystemResolvConf(): Promise<string> {
  return readFile('/etc/resolv.conf', 'utf8');
}
