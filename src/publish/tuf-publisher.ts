import type { Logger } from 'pino';
import { UpcatError } from '../errors.js';
import type { Db } from '../storage/db.js';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { loadKeyring, tufKeysDir } from '../signing/key-store.js';
import type { Keyring } from '../signing/roles.js';
import type { SiteSigning } from '../signing/site-signing.js';
import { advanceRepository } from '../signing/tuf-advance.js';
import { refreshTimestamp, type RepoSummary } from '../signing/tuf-repo.js';
import type { TargetChanges } from '../signing/tuf-targets.js';
import type { RepoRef } from '../signing/tuf-store.js';
import { desiredCatalog } from './catalog-targets.js';
import { currentCatalogVersion } from '../storage/catalog-repo.js';

/**
 * Publishes catalog versions as TUF repository versions (issue 3 item 2). The database is the
 * source of truth; the repository follows it, after each commit, and catches up from the database
 * whenever it is behind (a crash between commit and signing, or another process's publish).
 */
export class TufPublisher {
  private cachedRing: { stamp: string; ring: Keyring } | undefined;
  /** The tail of this process's queue of repository writers. */
  private writers: Promise<unknown> = Promise.resolve();

  /** The metadata store (storage.metadata); the site's catalog/tuf/ when not given. */
  private readonly repo: RepoRef;

  constructor(
    private readonly deps: { db: Db; signing: SiteSigning; log: Logger; repo?: RepoRef },
  ) {
    this.repo = deps.repo ?? deps.signing.repoDir;
  }

  /** Brings the repository to `catalogVersion`; `changes` lets the common case touch one bin. */
  async advance(catalogVersion: number, changes?: TargetChanges): Promise<RepoSummary | undefined> {
    const { db, signing } = this.deps;
    try {
      return await this.inTurn(async () =>
        advanceRepository(
          this.repo,
          await this.keyring(),
          catalogVersion,
          changes,
          () => desiredCatalog(db),
          signing.repoOptions,
        ),
      );
    } catch (err) {
      throw new UpcatError(
        'internal',
        `catalog version ${catalogVersion} is stored but signing it failed (${(err as Error).message}); ` +
          'the next publish or "upcat serve" retries',
        { cause: err },
      );
    }
  }

  /**
   * Writers of this process take turns here instead of polling the repository's file lock
   * against each other: under a burst of concurrent publishes that polling is unfair, and the
   * last writers timed out while their catalog versions were already committed (found by
   * test/integration/concurrent-publish.test.ts). The file lock still guards against other processes.
   */
  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writers.then(fn, fn);
    this.writers = run.catch(() => undefined);
    return run;
  }

  /**
   * The current keys, read for each write: a rotation by another process (`upcat keys rotate`
   * while `upcat serve` runs) must not leave this one signing with retired keys.
   */
  private async keyring(): Promise<Keyring> {
    const dir = this.deps.signing.signingDir;
    const stamp = await keysStamp(dir);
    if (this.cachedRing === undefined || this.cachedRing.stamp !== stamp) {
      this.cachedRing = { stamp, ring: await loadKeyring(dir) };
    }
    return this.cachedRing.ring;
  }

  /** Catches the repository up with the database (start-up, `upcat verify`). */
  async sync(): Promise<RepoSummary | undefined> {
    // Only the version is read here: the full target set is read only if the repository is behind.
    return this.advance(await currentCatalogVersion(this.deps.db));
  }

  /** Re-signs timestamp (and snapshot, bins) before they expire, so an idle site stays fresh. */
  async refresh(): Promise<RepoSummary> {
    const { signing } = this.deps;
    const summary = await this.inTurn(async () =>
      refreshTimestamp(this.repo, await this.keyring(), signing.repoOptions),
    );
    if (summary.written.length > 0)
      this.deps.log.info({ written: summary.written }, 'TUF metadata refreshed');
    return summary;
  }
}

/** Changes whenever a key file is added or retired (renames touch the folder) or thresholds change. */
async function keysStamp(signingDir: string): Promise<string> {
  const [keys, roles] = await Promise.all([
    stat(tufKeysDir(signingDir)),
    stat(path.join(signingDir, 'tuf', 'roles.json')),
  ]);
  return `${keys.mtimeMs}:${keys.ino}:${roles.mtimeMs}:${roles.ino}`;
}
