/**
 * The MS-WUSP server for the Windows Update Agent (issue 12), built from a site: one instance
 * per site object, made on first use by the routes (so the composition root stays as it is).
 */
import type { Site } from '../../app.js';
import { localCopy } from '../../storage/blobs/local-copy.js';
import { loadAnchorKey } from '../../sync/site-keys.js';
import { DEFAULT_SETTINGS, type WuspSettings } from './config.js';
import { SignedCabWrapper, WuspContent, type PayloadWrapper } from './content.js';
import { WuspService } from './operations.js';

export { WuspService } from './operations.js';
export { DEFAULT_SETTINGS, type WuspSettings } from './config.js';
export { SignedCabWrapper, WuspContent, type PayloadWrapper } from './content.js';

/** The active publisher certificate signs the cabinets, with the chain that leads to its root. */
export function siteWrapper(site: Pick<Site, 'signing'>): PayloadWrapper {
  const signing = site.signing;
  if (signing === undefined) {
    return {
      id: 'unavailable',
      fileName: (s) => s.name,
      wrap: () =>
        Promise.reject(new Error('the site has no publisher certificate: run upcat init')),
    };
  }
  // An imported organization publisher brings its intermediates; the site's own is issued by the CA.
  const { certificatePem, privateKeyPem, chainPems } = signing.publisher;
  return new SignedCabWrapper({
    certificatePem,
    privateKeyPem,
    chainPems: chainPems.length > 0 ? chainPems : [signing.caCertificatePem],
  });
}

export function createWuspService(
  site: Site,
  siteKey: Buffer,
  options: { settings?: Partial<WuspSettings>; wrapper?: PayloadWrapper } = {},
): WuspService {
  const content = new WuspContent({
    db: site.db,
    packagesDir: site.config.dirs.packages,
    wrapper: options.wrapper ?? siteWrapper(site),
    ...(site.blobs === site.pool
      ? {}
      : {
          remote: {
            store: site.blobs,
            localCopy: (sha256: string) => localCopy(site.blobs, site.pool, sha256),
          },
        }),
  });
  return new WuspService({
    db: site.db,
    log: site.log,
    config: site.config,
    registration: site.registration,
    status: site.status,
    contacts: site.contacts,
    changes: site.changes,
    content,
    poolPathOf: (sha256) => site.pool.pathOf(sha256),
    siteKey,
    settings: { ...DEFAULT_SETTINGS, ...options.settings },
  });
}

const services = new WeakMap<Site, Promise<WuspService>>();

/** The site's WUSP service, made once. */
export function wuspServiceOf(site: Site, loadKey: () => Promise<Buffer>): Promise<WuspService> {
  let held = services.get(site);
  if (held === undefined) {
    held = loadKey().then((key) => createWuspService(site, key));
    held.catch(() => services.delete(site));
    services.set(site, held);
  }
  return held;
}

/** Tests and benchmarks: use this service for the site (another page size, another wrapper). */
export function setWuspService(site: Site, service: WuspService): void {
  services.set(site, Promise.resolve(service));
}

/** The site's WUSP service with the site's own sync key (what the routes use). */
export function siteWuspService(site: Site): Promise<WuspService> {
  return wuspServiceOf(site, () => loadAnchorKey(site.config.dirs.signing));
}

/**
 * `upcat serve`, at start and in the background: the registered Windows computers into memory,
 * so that their scans are answered from it at once. Nothing to do on a site without any.
 */
export async function warmWuspComputers(site: Site): Promise<number> {
  const any = await site.db('wusp_computers').first('sus_client_id');
  if (any === undefined) return 0;
  return (await siteWuspService(site)).warmComputers();
}
