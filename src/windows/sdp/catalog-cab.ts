/**
 * The site's catalog as a signed CAB at a stable URL (issue 11 item 9), as vendors ship theirs:
 * one `upcat.xml` (the exported smc:SystemsManagementCatalog) in an MSZIP cabinet, Authenticode
 * signed by the publisher certificate.
 *
 * Built when the catalog version (or the publisher) changes, on the first request that needs it,
 * never per request:
 *  - in one process, concurrent requests share one build (a promise per version);
 *  - across processes on one host (several `upcat serve`, a CLI), a lock file taken with O_EXCL
 *    lets one build while the others wait for its file; a lock older than LOCK_STALE_MS (a killed
 *    builder) is taken over;
 *  - the file is named after what it holds (`upcat-v<version>-<publisher thumbprint>.cab`) and
 *    appears complete or not at all (the signer links it into place), so a reader never sees a
 *    half-made one, and any process can serve what another built.
 * The version is read before the catalog, so a file is never older than its name says (at worst
 * newer, which costs one extra build). Nodes with separate disks each build their own copy.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { SiteConfig } from '../../config/schema.js';
import { errnoCode, UpcatError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { SiteSigning } from '../../signing/site-signing.js';
import { currentCatalogVersion } from '../../storage/catalog-repo.js';
import type { Db } from '../../storage/db.js';
import { writeSignedCab } from '../authenticode/index.js';
import { siteAuthenticodeSigner } from '../authenticode/sign-file.js';
import { catalogDocument } from './document.js';
import { exportOptionsOf } from './export-service.js';
import { loadCatalog } from './load.js';

/** The file name of the catalog inside the cabinet. */
export const CATALOG_ENTRY = 'upcat.xml';
const LOCK_STALE_MS = 5 * 60 * 1000;
const WAIT_MS = 2 * 60 * 1000;
const POLL_MS = 100;

export interface CatalogCab {
  file: string;
  size: number;
  /** Strong ETag: the SHA-256 of the signed cabinet. */
  etag: string;
  catalogVersion: number;
  modified: Date;
}

export interface CatalogCabDeps {
  db: Db;
  config: SiteConfig;
  signing: SiteSigning;
  log: Logger;
}

export class CatalogCabCache {
  private readonly dir: string;
  private readonly thumbprint: string;
  private ready: CatalogCab | undefined;
  private readonly building = new Map<string, Promise<CatalogCab>>();

  constructor(private readonly deps: CatalogCabDeps) {
    this.dir = path.join(deps.config.dirs.catalog, 'cab');
    this.thumbprint = new X509Certificate(deps.signing.publisher.certificatePem).fingerprint256
      .replace(/:/g, '')
      .slice(0, 16)
      .toLowerCase();
  }

  /** The signed cabinet of the current catalog version, built if it is not there yet. */
  async current(): Promise<CatalogCab> {
    const version = await currentCatalogVersion(this.deps.db);
    const name = `upcat-v${version}-${this.thumbprint}.cab`;
    if (this.ready !== undefined && path.basename(this.ready.file) === name) return this.ready;
    let pending = this.building.get(name);
    if (pending === undefined) {
      pending = this.obtain(name, version).finally(() => this.building.delete(name));
      this.building.set(name, pending);
    }
    const cab = await pending;
    if ((this.ready?.catalogVersion ?? -1) <= cab.catalogVersion) this.ready = cab;
    return cab;
  }

  private async obtain(name: string, version: number): Promise<CatalogCab> {
    await mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, name);
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const existing = await describe(file, version);
      if (existing !== undefined) return existing;
      const lock = await this.tryLock();
      if (lock !== undefined) {
        try {
          // Another process may have finished between our look and our lock.
          return (await describe(file, version)) ?? (await this.build(file, version));
        } finally {
          await lock.release();
        }
      }
      if (Date.now() > deadline) {
        throw new UpcatError('in_progress', 'the catalog CAB is being built; retry shortly');
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  private async build(file: string, version: number): Promise<CatalogCab> {
    const started = Date.now();
    const doc = catalogDocument(await loadCatalog(this.deps.db), exportOptionsOf(this.deps.config));
    const xml = Buffer.from(doc.chunks.join(''), 'utf8');
    await writeSignedCab(
      [{ name: CATALOG_ENTRY, source: xml }],
      file,
      siteAuthenticodeSigner(this.deps.signing),
    );
    this.deps.log.info(
      {
        catalogVersion: version,
        packages: doc.packages.length,
        leftOut: doc.leftOut.length,
        ms: Date.now() - started,
      },
      'catalog CAB built',
    );
    await this.prune(path.basename(file));
    const built = await describe(file, version);
    if (built === undefined) throw new UpcatError('internal', `catalog CAB ${file} vanished`);
    return built;
  }

  /** Keeps the newest cabinets (this one and the one before, which readers may still stream). */
  private async prune(keep: string): Promise<void> {
    const cabs = (await readdir(this.dir)).filter((n) => /^upcat-v\d+-[0-9a-f]+\.cab$/.test(n));
    const byVersion = cabs
      .map((n) => ({ n, v: Number(/^upcat-v(\d+)-/.exec(n)?.[1] ?? 0) }))
      .sort((a, b) => b.v - a.v);
    for (const { n } of byVersion.slice(2)) {
      if (n !== keep) await rm(path.join(this.dir, n), { force: true });
    }
  }

  private async tryLock(): Promise<{ release(): Promise<void> } | undefined> {
    const lockFile = path.join(this.dir, '.build.lock');
    try {
      const handle = await open(lockFile, 'wx');
      await handle.writeFile(`${process.pid} ${new Date().toISOString()}\n`);
      await handle.close();
      return { release: () => rm(lockFile, { force: true }) };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    const info = await stat(lockFile).catch(() => undefined);
    if (info !== undefined && Date.now() - info.mtimeMs > LOCK_STALE_MS) {
      this.deps.log.warn({ lockFile }, 'taking over a stale catalog CAB build lock');
      await rm(lockFile, { force: true });
    }
    return undefined;
  }
}

async function describe(file: string, version: number): Promise<CatalogCab | undefined> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const info = await stat(file);
  return {
    file,
    size: data.length,
    etag: `"${createHash('sha256').update(data).digest('hex')}"`,
    catalogVersion: version,
    modified: info.mtime,
  };
}
