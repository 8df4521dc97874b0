import type { Logger } from 'pino';
import { UpcatError } from '../errors.js';
import type { Db } from '../storage/db.js';
import { loadKeyring } from '../signing/key-store.js';
import type { Keyring } from '../signing/roles.js';
import type { SiteSigning } from '../signing/site-signing.js';
import { advanceRepository } from '../signing/tuf-advance.js';
import { refreshTimestamp, type RepoSummary } from '../signing/tuf-repo.js';
import type { TargetChanges } from '../signing/tuf-targets.js';
import { desiredCatalog } from './catalog-targets.js';

/**
 * Publishes catalog versions as TUF repository versions (issue 3 item 2). The database is the
 * source of truth; the repository follows it, after each commit, and catches up from the database
 * whenever it is behind (a crash between commit and signing, or another process's publish).
 */
export class TufPublisher {
  constructor(private readonly deps: { db: Db; signing: SiteSigning; log: Logger }) {}

  /** Brings the repository to `catalogVersion`; `changes` lets the common case touch one bin. */
  async advance(catalogVersion: number, changes?: TargetChanges): Promise<RepoSummary | undefined> {
    const { db, signing } = this.deps;
    try {
      return await advanceRepository(
        signing.repoDir,
        await this.keyring(),
        catalogVersion,
        changes,
        () => desiredCatalog(db),
        signing.repoOptions,
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
   * The current keys, read for each write: a rotation by another process (`upcat keys rotate`
   * while `upcat serve` runs) must not leave this one signing with retired keys.
   */
  private keyring(): Promise<Keyring> {
    return loadKeyring(this.deps.signing.signingDir);
  }

  /** Catches the repository up with the database (start-up, `upcat verify`). */
  async sync(): Promise<RepoSummary | undefined> {
    const { catalogVersion } = await desiredCatalog(this.deps.db);
    return this.advance(catalogVersion);
  }

  /** Re-signs timestamp (and snapshot, bins) before they expire, so an idle site stays fresh. */
  async refresh(): Promise<RepoSummary> {
    const { signing } = this.deps;
    const summary = await refreshTimestamp(
      signing.repoDir,
      await this.keyring(),
      signing.repoOptions,
    );
    if (summary.written.length > 0)
      this.deps.log.info({ written: summary.written }, 'TUF metadata refreshed');
    return summary;
  }
}
