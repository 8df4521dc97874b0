import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Microsoft's SDP schemas (test data outside the product tree, interop.md §1.4). */
export const SDP_SCHEMA = path.resolve(
  '../shared/fixtures/sdp/schema/SoftwareDistributionPackage.xsd',
);

/** `xmllint --noout --schema` on each file; the result per file, with xmllint's own words. */
export async function validateSdpFiles(
  files: readonly string[],
): Promise<Array<{ file: string; valid: boolean; output: string }>> {
  const out = [];
  for (const file of files) {
    try {
      const r = await run('xmllint', ['--noout', '--schema', SDP_SCHEMA, file]);
      out.push({ file, valid: true, output: `${r.stdout}${r.stderr}` });
    } catch (err) {
      const e = err as { code?: unknown; stdout?: string; stderr?: string };
      if (e.code === 'ENOENT')
        throw new Error('xmllint is not installed (libxml2-utils)', { cause: err });
      out.push({ file, valid: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` });
    }
  }
  return out;
}

/**
 * Cuts each smc:SoftwareDistributionPackage out of a catalog and renames it to an
 * sdp:SoftwareDistributionPackage root carrying the catalog root's namespace declarations
 * (interop.md §6, "catalog XML"), so each can be validated against the SDP schema.
 */
export function packagesOfCatalog(xml: string): string[] {
  const root = /<smc:SystemsManagementCatalog\b([^>]*)>/.exec(xml);
  if (root === null) throw new Error('no smc:SystemsManagementCatalog root');
  const declarations = (root[1] ?? '').match(/\sxmlns:[a-z]+="[^"]*"/g) ?? [];
  const packages: string[] = [];
  const re =
    /<smc:SoftwareDistributionPackage\b([^>]*)>([\s\S]*?)<\/smc:SoftwareDistributionPackage>/g;
  for (const m of xml.matchAll(re)) {
    packages.push(
      `<?xml version="1.0" encoding="utf-8"?>\n<sdp:SoftwareDistributionPackage${m[1] ?? ''}${declarations.join('')}>${m[2] ?? ''}</sdp:SoftwareDistributionPackage>\n`,
    );
  }
  return packages;
}

/** Validates every package of a catalog with xmllint; also checks the catalog is well-formed. */
export async function validateCatalog(
  xml: string,
): Promise<{ count: number; invalid: Array<{ index: number; output: string }> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-sdp-check-'));
  try {
    const catalog = path.join(dir, 'catalog.xml');
    await writeFile(catalog, xml);
    await run('xmllint', ['--noout', catalog]);
    const counted = await run('xmllint', [
      '--xpath',
      'count(//*[local-name()="SoftwareDistributionPackage"])',
      catalog,
    ]);
    const packages = packagesOfCatalog(xml);
    if (Number(counted.stdout.trim()) !== packages.length) {
      throw new Error(
        `xmllint counts ${counted.stdout.trim()} packages, the cut found ${packages.length}`,
      );
    }
    const files = [];
    for (const [i, p] of packages.entries()) {
      const f = path.join(dir, `p${i}.sdp`);
      await writeFile(f, p);
      files.push(f);
    }
    const results = await validateSdpFiles(files);
    return {
      count: packages.length,
      invalid: results.flatMap((r, index) => (r.valid ? [] : [{ index, output: r.output }])),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
