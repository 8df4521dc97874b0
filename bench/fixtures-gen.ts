/**
 * Generated inputs for the benchmarks and the tests, from the shapes of the real SDP fixtures
 * (../shared/fixtures/sdp, read in place, never copied into the tree). Benchmarks import from
 * here, never from test/, so that they keep working whatever the tests' layout.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared SDP fixtures, next to the project's root. */
export const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../shared/fixtures/sdp',
);
/** A Dell package with an MSI installer: small (about 6 KB). */
export const DELL_MSI = 'dc718411-a5f1-4b15-966a-63a77cbb156e.sdp';
/** A Dell driver package with a command-line installer: 180 KB, 615 WmiQuery rules. */
export const DELL_DRIVER = '0e6cf4ac-2853-48aa-825b-8fe28206575f.sdp';

export function fixture(name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8');
}

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

/**
 * A SystemsManagementCatalog of `packages` packages, each a copy of one of the two real SDPs
 * with its own PackageID, title and version, as a vendor catalog lists them. `driverEvery`:
 * one package in that many has the large driver shape (the rest the MSI one).
 */
export function buildCatalog(packages: number, driverEvery = 2): string {
  return [...catalogParts(packages, driverEvery)].join('');
}

/** The same catalog written to a file part by part, so the writer never holds all of it. */
export async function writeCatalog(
  file: string,
  packages: number,
  driverEvery = 2,
): Promise<number> {
  const out = createWriteStream(file);
  let bytes = 0;
  for (const part of catalogParts(packages, driverEvery)) {
    bytes += Buffer.byteLength(part);
    if (!out.write(part)) await once(out, 'drain');
  }
  out.end();
  await finished(out);
  return bytes;
}

function* catalogParts(packages: number, driverEvery: number): Generator<string> {
  const shapes = [body(fixture(DELL_MSI)), body(fixture(DELL_DRIVER))];
  const declarations = (shapes[1]?.declarations ?? '').replace(/\sxmlns:smc="[^"]*"/, '');
  yield `<?xml version="1.0" encoding="utf-8"?>\n<smc:SystemsManagementCatalog xmlns:smc="${SMC}"${declarations}>`;
  for (let i = 0; i < packages; i++) {
    const shape = shapes[i % driverEvery === driverEvery - 1 ? 1 : 0] as { inner: string };
    const id = randomUUID();
    const version = `${1 + (i % 7)}.${i % 10}.${i}.${i % 3}`;
    const inner = shape.inner
      .replace(/PackageID="[^"]*"/, `PackageID="${id}"`)
      .replace(/<sdp:Title>[^<]*<\/sdp:Title>/, `<sdp:Title>Package ${i}, ${version}</sdp:Title>`)
      .replace(/VersionMin="[^"]*"/, `VersionMin="${version}"`);
    yield `${i === 0 ? '' : '\n'}<smc:SoftwareDistributionPackage SchemaVersion="1.0">${inner}</smc:SoftwareDistributionPackage>`;
  }
  yield '</smc:SystemsManagementCatalog>\n';
}
