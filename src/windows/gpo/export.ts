/**
 * `upcat gpo export` (issue 12 item 7): the Group Policy that points Windows machines at the
 * site. One list of registry values (Windows Update policy, certificate blobs, upcat's own
 * policy) rendered as Machine\Registry.pol, a .reg file and a PowerShell script; the
 * certificates as .cer files with certutil lines; and upcat's administrative template.
 */
import os from 'node:os';
import { UpcatError } from '../../errors.js';
import type { SiteConfig } from '../../config/schema.js';
import { renderAdml, renderAdmx } from './admx.js';
import {
  certificateEntries,
  certutilScript,
  firstCertificate,
  issuedBy,
  storeCertificate,
  type StoreCertificate,
} from './certificates.js';
import { encodeRegistryPol } from './pol.js';
import { renderPowerShell } from './ps1.js';
import { renderRegFile } from './reg-file.js';
import type { RegistryEntry } from './registry.js';
import { agentUrl, servesHttps, windowsUpdateUrl } from './transport.js';
import { upcatPolicyEntries } from './upcat-policy.js';
import { windowsUpdateEntries, type AuOption } from './windows-update.js';

export const GPO_FORMATS = ['admx', 'reg', 'pol', 'ps1', 'cer'] as const;
export type GpoFormat = (typeof GPO_FORMATS)[number];

export interface GpoExportOptions {
  formats: readonly GpoFormat[];
  /** The name Windows machines reach the site by (default: server.publicUrl's host, a server.tlsNames entry, else this host's name). */
  host?: string;
  /** The Windows Update server URL, replacing the one made from host and ports (a proxy in front). */
  url?: string;
  targetGroup?: string;
  auOption: AuOption;
  scheduledInstallDay: number;
  scheduledInstallTime: number;
  detectionFrequencyHours: number;
  /** Also set upcat's own policy (site code, server URL) for upcat's agent. */
  agentPolicy: boolean;
  fallbackStatusPoint?: string;
  properties: Record<string, string>;
}

/** The certificates a site signs with (SiteSigning's public halves). */
export interface GpoSigning {
  publisherCertificatePem: string;
  caCertificatePem: string;
}

export interface ExportFile {
  /** Relative to the output directory, with `/`. */
  path: string;
  data: Buffer;
}

export interface GpoExport {
  windowsUpdateUrl: string;
  https: boolean;
  agentUrl?: string;
  entries: RegistryEntry[];
  certificates: StoreCertificate[];
  files: ExportFile[];
  warnings: string[];
}

export const FILES = {
  pol: 'Machine/Registry.pol',
  reg: 'upcat-policy.reg',
  ps1: 'upcat-policy.ps1',
  admx: 'PolicyDefinitions/upcat.admx',
  adml: 'PolicyDefinitions/en-US/upcat.adml',
  certutil: 'certificates/add-certificates.cmd',
} as const;

export function buildGpoExport(
  config: SiteConfig,
  signing: GpoSigning,
  options: GpoExportOptions,
): GpoExport {
  const warnings: string[] = [];
  const host = options.host ?? defaultHost(config);
  if (
    options.url === undefined &&
    (servesHttps(config) ? config.server.httpsPort : config.server.port) === 0
  )
    throw new UpcatError(
      'invalid_config',
      'the site listens on any free port (port 0 in upcat.config.json): give --url with the port machines reach',
    );
  const https = options.url === undefined ? servesHttps(config) : options.url.startsWith('https:');
  const wuUrl = options.url ?? windowsUpdateUrl(config, host);
  if (!https)
    warnings.push(
      'the site serves Windows Update Agents over plain HTTP only: metadata such as command lines can be altered on the path (docs/WINDOWS.md, "Security: WSUSpect")',
    );
  if (
    options.url === undefined &&
    https &&
    config.server.tlsCert === undefined &&
    !config.server.tlsNames.includes(host)
  )
    warnings.push(
      `the site's server certificate names ${config.server.tlsNames.join(', ')}, not ${host}: add it to server.tlsNames or give --host`,
    );
  // A --url may be a proxy with its own certificate: the site CA is needed for TLS only when
  // the site's own listener, with a site-issued certificate, is what machines reach.
  const siteIssuedTls = options.url === undefined && https && config.server.tlsCert === undefined;
  const certificates = storeCertificates(signing, siteIssuedTls, warnings);
  const agent = options.agentPolicy ? agentUrl(config, host) : undefined;
  const entries = [
    ...windowsUpdateEntries({
      serverUrl: wuUrl,
      downloadUrl: wuUrl,
      ...(options.targetGroup === undefined ? {} : { targetGroup: options.targetGroup }),
      auOption: options.auOption,
      scheduledInstallDay: options.scheduledInstallDay,
      scheduledInstallTime: options.scheduledInstallTime,
      detectionFrequencyHours: options.detectionFrequencyHours,
    }),
    ...certificateEntries(certificates),
    ...(agent === undefined
      ? []
      : upcatPolicyEntries({
          siteCode: config.site.code,
          serverUrl: agent,
          ...(options.fallbackStatusPoint === undefined
            ? {}
            : { fallbackStatusPoint: options.fallbackStatusPoint }),
          properties: options.properties,
        })),
  ];
  const title = `upcat site ${config.site.code}: Windows Update at ${wuUrl}`;
  const files = renderFiles(options.formats, entries, certificates, title);
  return {
    windowsUpdateUrl: wuUrl,
    https,
    ...(agent === undefined ? {} : { agentUrl: agent }),
    entries,
    certificates,
    files,
    warnings,
  };
}

function renderFiles(
  formats: readonly GpoFormat[],
  entries: readonly RegistryEntry[],
  certificates: readonly StoreCertificate[],
  title: string,
): ExportFile[] {
  const files: ExportFile[] = [];
  const want = new Set(formats);
  if (want.has('pol')) files.push({ path: FILES.pol, data: encodeRegistryPol(entries) });
  if (want.has('reg')) files.push({ path: FILES.reg, data: renderRegFile(entries) });
  if (want.has('ps1')) files.push({ path: FILES.ps1, data: renderPowerShell(entries, title) });
  if (want.has('cer')) {
    // A self-signed publisher is in two stores but is one file.
    const ders = new Map(certificates.map((c) => [c.fileName, c.der]));
    for (const [name, der] of ders) files.push({ path: `certificates/${name}`, data: der });
    files.push({ path: FILES.certutil, data: certutilScript(certificates) });
  }
  if (want.has('admx')) {
    files.push({ path: FILES.admx, data: Buffer.from(renderAdmx(), 'utf8') });
    files.push({ path: FILES.adml, data: Buffer.from(renderAdml(), 'utf8') });
  }
  return files;
}

/**
 * The publisher certificate goes to Trusted Publishers (AcceptTrustedPublisherCerts trusts that
 * store). The site CA goes to Trusted Root when it is the site's own and something chains to it:
 * the publisher certificate it issued, or the site-issued HTTPS server certificate. A
 * self-signed publisher certificate is its own root. A publisher from another CA (imported) is
 * left to the organisation's own trust of that CA.
 */
function storeCertificates(
  signing: GpoSigning,
  siteIssuedTls: boolean,
  warnings: string[],
): StoreCertificate[] {
  const publisher = firstCertificate(signing.publisherCertificatePem, 'publisher certificate');
  const ca = firstCertificate(signing.caCertificatePem, 'site CA certificate');
  const out = [storeCertificate(publisher, 'TrustedPublisher', 'upcat-publisher.cer')];
  const siteIssued = issuedBy(publisher, ca);
  const selfSigned = !siteIssued && issuedBy(publisher, publisher);
  if (selfSigned) out.push(storeCertificate(publisher, 'Root', 'upcat-publisher.cer'));
  else if (!siteIssued)
    warnings.push(
      `the publisher certificate is issued by ${publisher.issuer.replace(/\n/g, ', ')}, not by the site CA: Windows machines must already trust that CA`,
    );
  if (siteIssued || siteIssuedTls) out.push(storeCertificate(ca, 'Root', 'upcat-site-ca.cer'));
  return out;
}

/**
 * A name Windows machines can reach: the host of server.publicUrl (the site's URL as consumers
 * see it), else the first non-loopback TLS name, else this host's name.
 */
function defaultHost(config: SiteConfig): string {
  const publicUrl = config.server.publicUrl;
  if (publicUrl !== undefined) return new URL(publicUrl).hostname.replace(/^\[(.*)\]$/, '$1');
  return (
    config.server.tlsNames.find((n) => n !== 'localhost' && n !== '127.0.0.1') ?? os.hostname()
  );
}
