import type { SiteConfig } from '../config/schema.js';
import type { Db } from '../storage/db.js';
import type { SyncService } from '../sync/sync-service.js';
import { receivesPolicy } from '../sync/policy.js';
import { authenticateSecret } from './identity.js';
import { bearerOf } from './secrets.js';

/**
 * The registration facts of `GET /v1/site` (issue 5 item 1) beyond code, name and version:
 * protocol versions, where the TUF root is, the key that signs policy, and the installation
 * properties. Properties marked sensitive go only to an approved client that proves itself.
 */
export async function siteInfo(
  site: { config: SiteConfig; db: Db; sync: SyncService },
  authorization: string | undefined,
): Promise<Record<string, unknown>> {
  const approved = await isApprovedClient(site.db, authorization);
  const properties: Record<string, string> = {};
  for (const [name, p] of Object.entries(site.config.site.installationProperties)) {
    if (!p.sensitive || approved) properties[name] = p.value;
  }
  return {
    protocolVersions: site.config.site.protocolVersions,
    tufRoot: '/tuf/root.json',
    policyKey: await site.sync.policyKey(),
    installationProperties: properties,
  };
}

async function isApprovedClient(db: Db, authorization: string | undefined): Promise<boolean> {
  const secret = bearerOf(authorization);
  if (secret === undefined) return false;
  try {
    return receivesPolicy(await authenticateSecret(db, secret));
  } catch {
    return false; // an unknown or blocked client reads the public facts only
  }
}
