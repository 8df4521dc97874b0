/**
 * Builds a SystemsManagementCatalog from the fixtures' shapes: each package is a copy of one of
 * the two real SDPs with its own PackageID, title and version, as a vendor catalog lists them.
 */
import { randomUUID } from 'node:crypto';
import { DELL_DRIVER, DELL_MSI, fixture } from './fixtures.js';

const SMC =
  'http://schemas.microsoft.com/sms/2005/04/CorporatePublishing/SystemsManagementCatalog.xsd';

/** The inside of a fixture's root element, and the namespace declarations of that root. */
function body(xml: string): { inner: string; declarations: string } {
  const open = /<sdp:SoftwareDistributionPackage([^>]*)>/.exec(xml);
  if (open === null) throw new Error('fixture has no SDP root');
  const declarations = (open[1] ?? '').match(/\sxmlns:\w+="[^"]*"/g)?.join('') ?? '';
  const inner = xml.slice(
    open.index + open[0].length,
    xml.lastIndexOf('</sdp:SoftwareDistributionPackage>'),
  );
  return { inner, declarations };
}

/** `driverEvery`: one package in that many has the large driver shape (the rest the MSI one). */
export function buildCatalog(packages: number, driverEvery = 2): string {
  const shapes = [body(fixture(DELL_MSI)), body(fixture(DELL_DRIVER))];
  const declarations = (shapes[1]?.declarations ?? '').replace(/\sxmlns:smc="[^"]*"/, '');
  const parts: string[] = [];
  for (let i = 0; i < packages; i++) {
    const shape = shapes[i % driverEvery === driverEvery - 1 ? 1 : 0] as { inner: string };
    const id = randomUUID();
    const version = `${1 + (i % 7)}.${i % 10}.${i}.${i % 3}`;
    const inner = shape.inner
      .replace(/PackageID="[^"]*"/, `PackageID="${id}"`)
      .replace(/<sdp:Title>[^<]*<\/sdp:Title>/, `<sdp:Title>Package ${i}, ${version}</sdp:Title>`)
      .replace(/VersionMin="[^"]*"/, `VersionMin="${version}"`);
    parts.push(
      `<smc:SoftwareDistributionPackage SchemaVersion="1.0">${inner}</smc:SoftwareDistributionPackage>`,
    );
  }
  return `<?xml version="1.0" encoding="utf-8"?>\n<smc:SystemsManagementCatalog xmlns:smc="${SMC}"${declarations}>${parts.join('\n')}</smc:SystemsManagementCatalog>\n`;
}
