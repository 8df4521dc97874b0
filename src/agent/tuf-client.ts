import { copyFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { BaseFetcher, Updater } from 'tuf-js';
// Not re-exported by the package index; tuf-js tells "no newer root" by this class (403/404).
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { errnoCode, UpcatError } from '../errors.js';
import type { SiteClient } from './site-client.js';
import { ensurePrivateDir, writePrivateFile } from './state-dir.js';

export interface TufTrust {
  updater: Updater;
  /** Where the trusted root came from on first run (docs/AGENT.md, "Trust on first use"). */
  rootSource: 'provisioned' | 'state' | 'first use';
}

const MAX_ROOT_BYTES = 1024 * 1024;

/**
 * The agent's TUF client (issue 6 item 2): tuf-js over `<state>/tuf`, whose root.json is the
 * trust anchor. A provisioned root (`--root` or agent.json) is preferred; without one, the first
 * run trusts the site's `/tuf/1.root.json` as fetched (trust on first use: an attacker on the
 * path at that one moment could pin a root of its own; every later run verifies the chain of
 * roots from the pinned one, so the window closes after the first contact).
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
  const trusted = path.join(metadataDir, 'root.json');
  let rootSource: TufTrust['rootSource'] = 'state';
  if (!(await exists(trusted))) {
    if (provisionedRoot !== undefined) {
      await copyFile(provisionedRoot, trusted).catch((err: unknown) => {
        throw new UpcatError(
          'invalid_config',
          `cannot read the provisioned TUF root ${provisionedRoot}: ${(err as Error).message}`,
        );
      });
      rootSource = 'provisioned';
    } else {
      const bytes = await site.text('/tuf/1.root.json', MAX_ROOT_BYTES);
      await writePrivateFile(trusted, bytes);
      rootSource = 'first use';
    }
  }
  const updater = new Updater({
    metadataDir,
    metadataBaseUrl: `${site.baseUrl}/tuf`,
    targetDir,
    targetBaseUrl: `${site.baseUrl}/tuf/targets`,
    config: { fetchRetry: 0, fetchTimeout: 30_000 },
    // Over HTTPS with the pinned CA (and in native mode the client certificate), metadata and
    // targets travel the same connection as everything else.
    ...(site.tls === undefined ? {} : { fetcher: new SiteFetcher(site) }),
  });
  return { updater, rootSource };
}

/** tuf-js fetches through the site client (its TLS options); tuf-js caps the lengths. */
class SiteFetcher extends BaseFetcher {
  constructor(private readonly site: SiteClient) {
    super();
  }

  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    if (!url.startsWith(this.site.baseUrl))
      throw new UpcatError('integrity', `TUF asked for ${url}, outside the site`);
    const res = await this.site.send('GET', url.slice(this.site.baseUrl.length), undefined, false);
    if (res.status !== 200 || res.body === null) {
      await res.body?.cancel().catch(() => undefined);
      throw new DownloadHTTPError(`HTTP ${res.status} for ${url}`, res.status);
    }
    return res.body as ReadableStream<Uint8Array<ArrayBuffer>>;
  }
}

/** Downloads a small target (an update document) through tuf-js, which checks length and hash. */
export async function readTarget(updater: Updater, name: string): Promise<Buffer | undefined> {
  const info = await updater.getTargetInfo(name);
  if (info === undefined) return undefined;
  const cached = await updater.findCachedTarget(info);
  return readFile(cached ?? (await updater.downloadTarget(info)));
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
