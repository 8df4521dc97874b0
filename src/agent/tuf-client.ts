import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { BaseFetcher, Updater, type UpdaterOptions } from 'tuf-js';
// Not re-exported by the package index; tuf-js tells "no newer root" by this class (403/404).
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { errnoCode, isUpcatError, UpcatError } from '../errors.js';
import { TamperedResponseError } from './download.js';
import { isUnreachable, type SiteClient } from './site-client.js';
import { ensurePrivateDir, readJsonFile, writePrivateFile, writePrivateJson } from './state-dir.js';

export interface TufTrust {
  updater: Updater;
  /** Where the trust started (docs/AGENT.md, "Trust"): this run, or an earlier one ('state'). */
  rootSource: 'provisioned' | 'state' | 'first use';
}

const MAX_ROOT_BYTES = 1024 * 1024;
/** `<state>/tuf/anchor.json`: which root the trusted metadata descends from. */
const ANCHOR_FILE = 'anchor.json';

interface Anchor {
  source: 'provisioned' | 'first use';
  sha256: string;
}

/**
 * The agent's TUF client (issue 6 item 2): tuf-js over `<state>/tuf`, whose root.json is the
 * trust anchor. A provisioned root (`--root` or agent.json `root`, the root pinned at install)
 * is used whenever it is given: when the metadata kept in the state descends from another root
 * (an earlier first use, an older provisioned file), trust restarts from the provisioned one.
 * Without one, the first run trusts the site's `/tuf/1.root.json` as fetched (trust on first
 * use: an attacker on the path at that one moment could pin a root of its own; every later run
 * verifies the chain of roots from the pinned one, so the window closes after first contact).
 */
export async function openTuf(
  stateDir: string,
  site: SiteClient,
  provisionedRoot: string | undefined,
): Promise<TufTrust> {
  const metadataDir = path.join(stateDir, 'tuf');
  const targetDir = path.join(stateDir, 'tuf-targets');
  await ensurePrivateDir(metadataDir);
  await ensurePrivateDir(targetDir);
  const rootSource = await anchor(metadataDir, site, provisionedRoot);
  const fetcher = new SiteFetcher(site);
  const updater = new SiteUpdater(
    {
      metadataDir,
      metadataBaseUrl: `${site.baseUrl}/tuf`,
      targetDir,
      targetBaseUrl: `${site.baseUrl}/tuf/targets`,
      config: { fetchRetry: 0, fetchTimeout: 30_000 },
      // Metadata and targets travel through the site client, as everything else does: over
      // HTTPS with the pinned CA (and in native mode the client certificate), and with the same
      // idea of "the site cannot be reached".
      fetcher,
    },
    fetcher,
  );
  return { updater, rootSource };
}

async function anchor(
  metadataDir: string,
  site: SiteClient,
  provisionedRoot: string | undefined,
): Promise<TufTrust['rootSource']> {
  const trusted = path.join(metadataDir, 'root.json');
  const kept = await readAnchor(metadataDir);
  const haveRoot = await exists(trusted);
  if (provisionedRoot !== undefined) {
    const bytes = await readFile(provisionedRoot).catch((err: unknown) => {
      throw new UpcatError(
        'invalid_config',
        `cannot read the provisioned TUF root ${provisionedRoot}: ${(err as Error).message}`,
      );
    });
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (haveRoot && kept?.source === 'provisioned' && kept.sha256 === sha256) return 'state';
    // Start over from the pinned root: what is kept descends from some other root.
    for (const name of await metadataFiles(metadataDir)) await rm(path.join(metadataDir, name));
    await writePrivateFile(trusted, bytes);
    await writePrivateJson(path.join(metadataDir, ANCHOR_FILE), {
      source: 'provisioned',
      sha256,
    } satisfies Anchor);
    return 'provisioned';
  }
  if (haveRoot) return 'state';
  const bytes = await site.text('/tuf/1.root.json', MAX_ROOT_BYTES);
  await writePrivateFile(trusted, bytes);
  await writePrivateJson(path.join(metadataDir, ANCHOR_FILE), {
    source: 'first use',
    sha256: createHash('sha256').update(bytes).digest('hex'),
  } satisfies Anchor);
  return 'first use';
}

async function readAnchor(metadataDir: string): Promise<Anchor | undefined> {
  const raw = await readJsonFile(path.join(metadataDir, ANCHOR_FILE)).catch(() => undefined);
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { source, sha256 } = raw as Record<string, unknown>;
  return (source === 'provisioned' || source === 'first use') && typeof sha256 === 'string'
    ? { source, sha256 }
    : undefined;
}

async function metadataFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.json'));
}

/**
 * tuf-js fetches through the site client (its TLS options); tuf-js caps the lengths. It wraps
 * what a fetch throws into its own errors for some roles (snapshot, targets: a RuntimeError
 * with the text only), so the fetcher remembers a failure to reach the site, for SiteUpdater.
 */
class SiteFetcher extends BaseFetcher {
  unreachable: unknown;
  /** The last HTTP status other than 200 (a 5xx is the site failing, not the metadata). */
  httpStatus: number | undefined;

  constructor(private readonly site: SiteClient) {
    super();
  }

  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    if (!url.startsWith(this.site.baseUrl))
      throw new UpcatError('integrity', `TUF asked for ${url}, outside the site`);
    let res: Response;
    try {
      res = await this.site.send('GET', url.slice(this.site.baseUrl.length), undefined, false);
    } catch (err) {
      if (isUnreachable(err)) this.unreachable = err;
      throw err;
    }
    if (res.status !== 200 || res.body === null) {
      await res.body?.cancel().catch(() => undefined);
      this.httpStatus = res.status;
      throw new DownloadHTTPError(`HTTP ${res.status} for ${url}`, res.status);
    }
    return res.body as ReadableStream<Uint8Array<ArrayBuffer>>;
  }
}

/**
 * tuf-js's Updater whose failures read as the agent's: a site that could not be reached is the
 * SiteUnreachableError the rest of the cycle knows (queued `cannot_reach_site`, exit 1, no
 * update backoff), and anything else tuf-js refuses is an `integrity` error.
 */
class SiteUpdater extends Updater {
  constructor(
    options: UpdaterOptions,
    private readonly siteFetcher: SiteFetcher,
  ) {
    super(options);
  }

  override refresh(): Promise<void> {
    return this.mapped(() => super.refresh());
  }

  override getTargetInfo(targetPath: string): ReturnType<Updater['getTargetInfo']> {
    return this.mapped(() => super.getTargetInfo(targetPath));
  }

  override downloadTarget(
    ...args: Parameters<Updater['downloadTarget']>
  ): ReturnType<Updater['downloadTarget']> {
    return this.mapped(() => super.downloadTarget(...args));
  }

  private async mapped<T>(step: () => Promise<T>): Promise<T> {
    this.siteFetcher.unreachable = undefined;
    this.siteFetcher.httpStatus = undefined;
    try {
      return await step();
    } catch (err) {
      const { unreachable, httpStatus } = this.siteFetcher;
      if (unreachable !== undefined) throw unreachable;
      if (isUpcatError(err)) throw err;
      if (httpStatus !== undefined && httpStatus >= 500)
        throw new UpcatError(
          'internal',
          `the site failed to serve its TUF metadata (HTTP ${httpStatus}): ${(err as Error).message}`,
          { cause: err },
        );
      throw new UpcatError(
        'integrity',
        `the signed catalog (TUF) does not verify from the trusted root: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}

/** Downloads a small target (an update document) through tuf-js, which checks length and hash. */
export async function readTarget(updater: Updater, name: string): Promise<Buffer | undefined> {
  try {
    const info = await updater.getTargetInfo(name);
    if (info === undefined) return undefined;
    const cached = await updater.findCachedTarget(info);
    return await readFile(cached ?? (await updater.downloadTarget(info)));
  } catch (err) {
    // tuf-js refused what the site (or someone on the path) sent: a response problem, retried
    // at the next cycle, not a failure of the update (issue 13 item 5).
    if (isTufResponseError(err))
      throw new TamperedResponseError(`${name}: ${(err as Error).message}`, { cause: err });
    throw err;
  }
}

/** tuf-js's (and @tufjs/models') errors about what was downloaded: repository and download errors. */
function isTufResponseError(err: unknown): boolean {
  for (let p: unknown = err; p !== null && typeof p === 'object'; p = Object.getPrototypeOf(p)) {
    const name = (p as { constructor?: { name?: string } }).constructor?.name;
    if (name === 'RepositoryError' || name === 'DownloadError') return true;
  }
  return false;
}

async function exists(file: string): Promise<boolean> {
  try {
    await readFile(file);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}
