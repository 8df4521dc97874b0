import type { SiteConfig } from '../config/schema.js';
import type { Db } from '../storage/db.js';
import type { SyncService } from '../sync/sync-service.js';
import { receivesPolicy } from '../sync/policy.js';
import { authenticateCertificate, authenticateSecret } from './identity.js';
import { bearerOf } from './secrets.js';

/**
 * The registration facts of `GET /v1/site` (issue 5 item 1) beyond code, name and version:
 * protocol versions, where the TUF root is, the key that signs policy, and the installation
 * properties. Properties marked sensitive go only to an approved client that proves itself.
 */
export async function siteInfo(
  site: { config: SiteConfig; db: Db; sync: SyncService },
  caller: { authorization: string | undefined; certificateSerial: string | undefined },
): Promise<Record<string, unknown>> {
  const approved = await isApprovedClient(site.db, caller);
  const properties: Record<string, string> = {};
  for (const [name, p] of Object.entries(site.config.site.installationProperties)) {
    if (!p.sensitive || approved) properties[name] = p.value;
  }
  return {
    protocolVersions: site.config.site.protocolVersions,
    tufRoot: '/tuf/root.json',
    // Where mutual TLS is served, so an agent told only the HTTP address finds it (native mode).
    ...(site.config.site.mode === 'native' || site.config.server.https
      ? { httpsPort: site.config.server.httpsPort }
      : {}),
    policyKey: await site.sync.policyKey(),
    installationProperties: properties,
  };
}

async function isApprovedClient(
  db: Db,
  caller: { authorization: string | undefined; certificateSerial: string | undefined },
): Promise<boolean> {
  const secret = bearerOf(caller.authorization);
  const serial = caller.certificateSerial;
  if (secret === undefined && serial === undefined) return false;
  try {
    // A site-issued client certificate proves the client as well as its secret does (native mode).
    const client =
      serial !== undefined
        ? await authenticateCertificate(db, serial)
        : await authenticateSecret(db, secret ?? '');
    return receivesPolicy(client);
  } catch {
    return false; // an unknown or blocked client reads the public facts only
  }
}
