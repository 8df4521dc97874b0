/**
 * Vendor catalogs with payloads, for the import tests and benchmark (issue 11): packages in the
 * shape SoftwareDistributionPackage.xsd gives them (element order included, so a package renamed
 * to the sdp: root validates with xmllint), each with an OriginFile whose Digest, Size and
 * AdditionalDigest are those of a payload the caller holds.
 */
import { createHash, randomUUID } from 'node:crypto';

const BASE = 'http://schemas.microsoft.com/wsus/2005/04/CorporatePublishing/';
const SMC =
  'http://schemas.microsoft.com/sms/2005/04/CorporatePublishing/SystemsManagementCatalog.xsd';
export const DECLARATIONS =
  ` xmlns:sdp="${BASE}SoftwareDistributionPackage.xsd" xmlns:bar="${BASE}BaseApplicabilityRules.xsd"` +
  ` xmlns:lar="${BASE}LogicalApplicabilityRules.xsd" xmlns:cmd="${BASE}Installers/CommandLineInstallation.xsd"` +
  ` xmlns:msiar="${BASE}MsiApplicabilityRules.xsd"`;

export interface VendorPackageSpec {
  id?: string;
  title?: string;
  vendor?: string;
  product?: string;
  /** The payload's bytes: Digest, Size and AdditionalDigest come from them. */
  payload: Buffer;
  fileName?: string;
  originUri?: string;
  supersedes?: string[];
  prerequisites?: string[][];
  returnCodes?: Array<{ code: number; result: string; reboot?: boolean }>;
  rebootBehavior?: string;
  severity?: string;
  kb?: string;
  bulletin?: string;
  cves?: string[];
  moreInfoUrl?: string;
  supportUrl?: string;
  created?: string;
  /** A FileVersion IsInstalled rule stating this version. */
  fileVersion?: string;
  /** Replace the Digest (a catalog that lies about its payload). */
  digestOverride?: string;
}

export interface BuiltPackage {
  id: string;
  fileName: string;
  xml: string;
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** One package's children (what sits inside smc: or sdp:SoftwareDistributionPackage). */
export function packageBody(spec: VendorPackageSpec): BuiltPackage {
  const id = spec.id ?? randomUUID();
  const fileName = spec.fileName ?? `payload-${id.slice(0, 8)}.exe`;
  const sha1 = createHash('sha1').update(spec.payload).digest('base64');
  const sha256 = createHash('sha256').update(spec.payload).digest('base64');
  const created = spec.created ?? '2024-03-05T10:20:30Z';
  const codes = spec.returnCodes ?? [
    { code: 0, result: 'Succeeded' },
    { code: 2, result: 'Succeeded', reboot: true },
  ];
  const parts = [
    `<sdp:Properties PackageID="${id}" CreationDate="${created}" VendorName="${esc(spec.vendor ?? 'Contoso')}" PublicationState="Published">`,
    spec.moreInfoUrl === undefined
      ? ''
      : `<sdp:MoreInfoUrl>${esc(spec.moreInfoUrl)}</sdp:MoreInfoUrl>`,
    spec.supportUrl === undefined ? '' : `<sdp:SupportUrl>${esc(spec.supportUrl)}</sdp:SupportUrl>`,
    `<sdp:ProductName>${esc(spec.product ?? 'Driver')}</sdp:ProductName></sdp:Properties>`,
    `<sdp:LocalizedProperties><sdp:Language>en</sdp:Language><sdp:Title>${esc(spec.title ?? `Package ${id}`)}</sdp:Title>`,
    `<sdp:Description>A vendor package.</sdp:Description></sdp:LocalizedProperties>`,
    `<sdp:UpdateSpecificData UpdateClassification="Updates"${spec.severity === undefined ? '' : ` MsrcSeverity="${spec.severity}"`}>`,
    spec.bulletin === undefined
      ? ''
      : `<sdp:SecurityBulletinID>${esc(spec.bulletin)}</sdp:SecurityBulletinID>`,
    ...(spec.cves ?? []).map((c) => `<sdp:CveID>${esc(c)}</sdp:CveID>`),
    spec.kb === undefined ? '' : `<sdp:KBArticleID>${esc(spec.kb)}</sdp:KBArticleID>`,
    `</sdp:UpdateSpecificData>`,
    `<sdp:IsInstallable><lar:True/></sdp:IsInstallable>`,
    spec.supersedes === undefined
      ? ''
      : `<sdp:SupersededPackages>${spec.supersedes.map((s) => `<sdp:PackageID>${s}</sdp:PackageID>`).join('')}</sdp:SupersededPackages>`,
    ...(spec.prerequisites ?? []).map(
      (group) =>
        `<sdp:Prerequisites><sdp:AtLeastOne>${group.map((g) => `<sdp:PackageID>${g}</sdp:PackageID>`).join('')}</sdp:AtLeastOne></sdp:Prerequisites>`,
    ),
    `<sdp:InstallableItem ID="${randomUUID()}"><sdp:ApplicabilityRules>`,
    spec.fileVersion === undefined
      ? '<sdp:IsInstalled><lar:False/></sdp:IsInstalled>'
      : `<sdp:IsInstalled><bar:FileVersion Path="vendor\\tool.exe" Csidl="38" Comparison="GreaterThanOrEqualTo" Version="${spec.fileVersion}"/></sdp:IsInstalled>`,
    `<sdp:IsInstallable><lar:True/></sdp:IsInstallable></sdp:ApplicabilityRules>`,
    `<sdp:InstallProperties CanRequestUserInput="false" RequiresNetworkConnectivity="false" Impact="Normal" RebootBehavior="${spec.rebootBehavior ?? 'CanRequestReboot'}"/>`,
    `<cmd:CommandLineInstallerData Program="${esc(fileName)}" Arguments="/s" DefaultResult="Failed" RebootByDefault="false">`,
    ...codes.map(
      (c) =>
        `<cmd:ReturnCode Code="${c.code}" Result="${c.result}" Reboot="${c.reboot === true}"/>`,
    ),
    `</cmd:CommandLineInstallerData>`,
    `<sdp:OriginFile Digest="${spec.digestOverride ?? sha1}" FileName="${esc(fileName)}" Size="${spec.payload.length}" Modified="2024-03-01T08:00:00Z"`,
    spec.originUri === undefined ? '' : ` OriginUri="${esc(spec.originUri)}"`,
    `><sdp:AdditionalDigest Algorithm="SHA256">${sha256}</sdp:AdditionalDigest></sdp:OriginFile>`,
    `</sdp:InstallableItem>`,
  ];
  return { id, fileName, xml: parts.join('') };
}

/** A SystemsManagementCatalog of the given package bodies. */
export function vendorCatalog(bodies: readonly string[]): string {
  const packages = bodies.map(
    (b) =>
      `<smc:SoftwareDistributionPackage SchemaVersion="1.2">${b}</smc:SoftwareDistributionPackage>`,
  );
  return `<?xml version="1.0" encoding="utf-8"?>\n<smc:SystemsManagementCatalog xmlns:smc="${SMC}"${DECLARATIONS}>\n${packages.join('\n')}\n</smc:SystemsManagementCatalog>\n`;
}

/** One package as a standalone SDP document, for xmllint --schema. */
export function standaloneSdp(body: string): string {
  return `<sdp:SoftwareDistributionPackage SchemaVersion="1.2"${DECLARATIONS}>${body}</sdp:SoftwareDistributionPackage>`;
}
