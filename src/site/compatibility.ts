import { UpcatError } from '../errors.js';
import { compareVersions } from '../rules/version.js';

/**
 * Site compatibility (issue 5 item 1): a client below the minimum version, or speaking a protocol
 * major version the site does not, is refused before anything is written, with a message that
 * names the versions that would work.
 */
export function checkCompatibility(
  site: { minimumClientVersion: string; protocolVersions: readonly string[] },
  client: { clientVersion: string; protocolVersion: string },
): void {
  const order = compareVersions(client.clientVersion, site.minimumClientVersion);
  if (order === undefined || order < 0) {
    throw new UpcatError(
      'incompatible_site',
      `clientVersion: ${client.clientVersion} is below this site's minimum client version ${site.minimumClientVersion}; upgrade to ${site.minimumClientVersion} or later`,
      { details: { minimumClientVersion: site.minimumClientVersion } },
    );
  }
  const major = client.protocolVersion.split('.')[0];
  if (!site.protocolVersions.some((v) => v.split('.')[0] === major)) {
    throw new UpcatError(
      'incompatible_site',
      `protocolVersion: ${client.protocolVersion} is not spoken by this site; it speaks ${site.protocolVersions.join(', ')}`,
      { details: { protocolVersions: [...site.protocolVersions] } },
    );
  }
}
