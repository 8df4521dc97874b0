import type { SiteConfig } from '../config/schema.js';
import { errnoCode } from '../errors.js';
import { initCertificates, loadCa } from './ca.js';
import { initKeys, loadKeyring } from './key-store.js';
import { loadActivePublisher, type PublisherPem } from './publisher-import.js';
import type { Keyring } from './roles.js';
import type { RepoOptions } from './tuf-metadata.js';
import { tufRepoDir } from './tuf-repo.js';

/** Everything a site signs with, loaded once at start-up (DESIGN.md §3). */
export interface SiteSigning {
  ring: Keyring;
  /** The site CA's publisher, or the organization's one after `upcat keys import-publisher`. */
  publisher: PublisherPem;
  caCertificatePem: string;
  signingDir: string;
  repoDir: string;
  repoOptions: RepoOptions;
}

/** `upcat init`: TUF role keys, the site CA and the publisher certificate; keeps what exists. */
export async function initSiteSigning(
  config: SiteConfig,
): Promise<{ createdKeys: number; createdCertificates: number }> {
  const keys = await initKeys(config.dirs.signing, { thresholds: config.signing.thresholds });
  const certs = await initCertificates(config.dirs.signing, {
    siteCode: config.site.code,
    siteName: config.site.name,
  });
  return { createdKeys: keys.created.length, createdCertificates: certs.created.length };
}

/** The site's signing material, or undefined when `upcat init` has not made it yet. */
export async function loadSiteSigning(config: SiteConfig): Promise<SiteSigning | undefined> {
  let ring: Keyring;
  try {
    ring = await loadKeyring(config.dirs.signing);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  const publisher = await loadActivePublisher(config.dirs.signing);
  const ca = await loadCa(config.dirs.signing);
  return {
    ring,
    publisher,
    caCertificatePem: ca.certificatePem,
    signingDir: config.dirs.signing,
    repoDir: tufRepoDir(config.dirs.catalog),
    repoOptions: { expiryDays: config.signing.expiryDays },
  };
}

function isMissing(err: unknown): boolean {
  return (
    errnoCode(err) === 'ENOENT' ||
    (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'not_found')
  );
}
