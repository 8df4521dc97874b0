/**
 * How the site serves Windows Update Agents: over HTTPS (port 8531 by default) when it has an
 * HTTPS listener (native mode, or `server.https` in mixed mode), else over plain HTTP (8530).
 * Over plain HTTP an attacker on the path can alter the update metadata, which is not signed,
 * such as an installer's command-line arguments (the WSUSpect attack, docs/WINDOWS.md).
 */
import type { SiteConfig } from '../../config/schema.js';

export function servesHttps(config: SiteConfig): boolean {
  return config.site.mode === 'native' || config.server.https;
}

/** The base URL Windows Update Agents use, for a host name they reach the site by. */
export function windowsUpdateUrl(config: SiteConfig, host: string): string {
  const https = servesHttps(config);
  const port = https ? config.server.httpsPort : config.server.port;
  return `${https ? 'https' : 'http'}://${hostPart(host)}:${port}`;
}

/** The base URL upcat's own agent is given (it finds a native-mode site's HTTPS port itself). */
export function agentUrl(config: SiteConfig, host: string): string {
  return `http://${hostPart(host)}:${config.server.port}`;
}

/** The one line `upcat serve` logs when Windows Update Agents would be served over HTTP only. */
export function plainHttpWarning(config: SiteConfig): string | undefined {
  if (servesHttps(config)) return undefined;
  return (
    'Windows Update Agents are served over plain HTTP only: an attacker on the network path can ' +
    'alter unsigned update metadata such as command-line arguments (WSUSpect); set site.mode ' +
    '"native" or server.https so that `upcat gpo export` points them at HTTPS (docs/WINDOWS.md)'
  );
}

const hostPart = (host: string): string => (host.includes(':') ? `[${host}]` : host);
