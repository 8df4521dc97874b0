import { promises as dns, type SrvRecord } from 'node:dns';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { UpcatError } from '../errors.js';
import { pinHostAddress } from './tls-fetch.js';

/** How the agent found its site, for `upcat agent status` and messages. */
export type SiteSource =
  'command line' | 'group policy' | 'agent.json' | 'UPCAT_SERVER' | 'dns srv' | 'state';

export interface Discovered {
  url: string;
  source: SiteSource;
  /**
   * Every URL to try, in order (RFC 2782 for DNS SRV: the next target when one does not answer
   * GET /v1/site); `url` is the first. One entry for the other sources.
   */
  candidates: string[];
}

export interface DiscoveryInputs {
  /** `--server` */
  flag?: string;
  /** `ServerUrl` of upcat's Group Policy on Windows (agent/windows-policy.ts) */
  policy?: string;
  /** `server` in the provisioned agent.json */
  provisioned?: string;
  env?: NodeJS.ProcessEnv;
  /** `--domain`; else the first search domain of resolv.conf */
  domain?: string;
  /** The server the state remembers (a site found once is kept when discovery is silent). */
  remembered?: string;
  /** DNS servers to ask (`--dns-server`, else `UPCAT_DNS_SERVERS`), else the system's. */
  dnsServers?: readonly string[];
  resolveSrv?: (name: string) => Promise<SrvRecord[]>;
  /** The address of an SRV target host (tests inject it); with named DNS servers, through them. */
  resolveAddress?: (host: string) => Promise<string | undefined>;
  readResolvConf?: () => Promise<string>;
  /** In [0, 1): the weighted choice among SRV records of one priority (tests fix it). */
  random?: () => number;
}

export const SRV_PREFIX = '_upcat._tcp.';

/**
 * Finds the site (issue 6 item 1), in this order: the command line, Group Policy on Windows
 * (issue 12 item 7), the provisioned agent.json,
 * `UPCAT_SERVER`, then DNS SRV records `_upcat._tcp.<domain>`, ordered as RFC 2782 says (lowest
 * priority first, a weighted random order within a priority; the caller tries them in turn).
 * The last site that worked is the fallback when DNS says nothing.
 */
export async function discoverSite(inputs: DiscoveryInputs): Promise<Discovered> {
  const one = (url: string, source: SiteSource): Discovered => ({ url, source, candidates: [url] });
  if (inputs.flag !== undefined) return one(normalize(inputs.flag, '--server'), 'command line');
  if (inputs.policy !== undefined)
    return one(normalize(inputs.policy, 'Group Policy ServerUrl'), 'group policy');
  if (inputs.provisioned !== undefined)
    return one(normalize(inputs.provisioned, 'agent.json server'), 'agent.json');
  const env = inputs.env?.['UPCAT_SERVER'];
  if (env !== undefined && env !== '') return one(normalize(env, 'UPCAT_SERVER'), 'UPCAT_SERVER');
  const domain =
    inputs.domain ?? (await searchDomain(inputs.readResolvConf ?? readSystemResolvConf));
  let none = false;
  if (domain !== undefined) {
    const servers = dnsServersOf(inputs);
    const resolve = inputs.resolveSrv ?? systemResolver(servers);
    const address = inputs.resolveAddress ?? namedAddressResolver(servers);
    const urls = await fromSrv(domain, resolve, inputs.random ?? Math.random, address);
    if (urls === 'none') none = true;
    else if (urls[0] !== undefined) return { url: urls[0], source: 'dns srv', candidates: urls };
  }
  if (inputs.remembered !== undefined) return one(inputs.remembered, 'state');
  const why =
    domain === undefined
      ? ' (no search domain found in /etc/resolv.conf; pass --domain)'
      : none
        ? ` (${SRV_PREFIX}${domain} says there is no such service: its target is ".")`
        : ` (none for ${domain})`;
  throw new UpcatError(
    'invalid_input',
    `no site: pass --server URL, provision agent.json "server", set UPCAT_SERVER, or publish a DNS SRV record ${SRV_PREFIX}<domain>${why}`,
  );
}

/** `--dns-server` (repeatable), else `UPCAT_DNS_SERVERS` (comma-separated). */
function dnsServersOf(inputs: DiscoveryInputs): readonly string[] {
  if (inputs.dnsServers !== undefined && inputs.dnsServers.length > 0) return inputs.dnsServers;
  const env = inputs.env?.['UPCAT_DNS_SERVERS'] ?? '';
  return env
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * SRV look-ups through the system's resolver, or through the named servers (`IP` or
 * `IP:PORT`, `[IPv6]:PORT`), e.g. a site's own DNS when the machine's does not carry the record.
 */
export function systemResolver(servers: readonly string[]): (name: string) => Promise<SrvRecord[]> {
  if (servers.length === 0) return (name) => dns.resolveSrv(name);
  const resolver = new dns.Resolver({ timeout: 3000, tries: 2 });
  try {
    resolver.setServers([...servers]);
  } catch (err) {
    throw new UpcatError(
      'invalid_input',
      `--dns-server / UPCAT_DNS_SERVERS: "${servers.join(',')}" is not a list of IP or IP:PORT (${(err as Error).message})`,
    );
  }
  return (name) => resolver.resolveSrv(name);
}

/**
 * With named DNS servers, the SRV targets' addresses come from them too (issue 13 item 7): a
 * site known only to that DNS (its SRV record and its host's A record) must be found, and the
 * system resolver does not know the host. IPv4 first, then IPv6; undefined when they do not
 * know it either (the host name is kept and the system resolver tried). Without named servers
 * the system resolver answers both, so nothing is looked up here.
 */
function namedAddressResolver(
  servers: readonly string[],
): ((host: string) => Promise<string | undefined>) | undefined {
  if (servers.length === 0) return undefined;
  const resolver = new dns.Resolver({ timeout: 3000, tries: 2 });
  resolver.setServers([...servers]);
  return async (host) => {
    for (const family of [resolver.resolve4.bind(resolver), resolver.resolve6.bind(resolver)]) {
      const found = await family(host).catch(() => [] as string[]);
      if (found[0] !== undefined) return found[0];
    }
    return undefined;
  };
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
  random: () => number,
  resolveAddress?: (host: string) => Promise<string | undefined>,
): Promise<string[] | 'none'> {
  let records: SrvRecord[];
  try {
    records = await resolveSrv(`${SRV_PREFIX}${domain}`);
  } catch {
    return []; // NXDOMAIN, no DNS: discovery falls through
  }
  // RFC 2782: a single record whose target is "." says the service is decidedly not there.
  if (records.length === 1 && ['.', ''].includes(records[0]?.name ?? '')) return 'none';
  const urls: string[] = [];
  for (const r of orderSrv(records, random).filter((x) => x.name !== '.' && x.name !== '')) {
    const name = r.name.replace(/\.$/, '');
    // Port 8531 is the site's TLS port by convention (as WSUS uses); anything else is plain HTTP.
    const scheme = r.port === 8531 || r.port === 443 ? 'https' : 'http';
    const address = isIP(name) === 0 ? await resolveAddress?.(name) : undefined;
    // Over HTTPS the name stays in the URL, as the server certificate is checked against it;
    // the connection goes to the address found (tls-fetch.ts).
    if (scheme === 'https' && address !== undefined) pinHostAddress(name, address);
    const host = scheme === 'http' ? (address ?? name) : name;
    urls.push(`${scheme}://${host.includes(':') ? `[${host}]` : host}:${r.port}`);
  }
  return urls;
}

/**
 * RFC 2782's order: priorities ascending; within one priority, repeatedly pick a record with
 * probability proportional to its weight (weight-0 records first in the list, so they are
 * chosen only when the running sum allows: rarely, when others carry weight).
 */
export function orderSrv(records: readonly SrvRecord[], random: () => number): SrvRecord[] {
  const out: SrvRecord[] = [];
  const priorities = [...new Set(records.map((r) => r.priority))].sort((a, b) => a - b);
  for (const priority of priorities) {
    const left = records
      .filter((r) => r.priority === priority)
      .sort((a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1));
    while (left.length > 0) {
      const total = left.reduce((sum, r) => sum + r.weight, 0);
      const pick = Math.floor(random() * (total + 1)); // uniform in [0, total]
      let running = 0;
      let index = left.length - 1;
      for (let i = 0; i < left.length; i++) {
        running += left[i]?.weight ?? 0;
        if (running >= pick) {
          index = i;
          break;
        }
      }
      out.push(...left.splice(index, 1));
    }
  }
  return out;
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
