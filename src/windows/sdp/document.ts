/**
 * The two exported document shapes: one package as a .sdp file (root
 * sdp:SoftwareDistributionPackage), and a catalog (root smc:SystemsManagementCatalog holding one
 * smc:SoftwareDistributionPackage per package, interop.md §2). Both carry SchemaVersion 1.2 on
 * each package, as HP's catalogs do; namespaces are declared once, on the root.
 */
import { UpcatError } from '../../errors.js';
import type { ExportOptions, ExportRevision, LeftOut } from './model.js';
import { packageBody } from './package-xml.js';
import { namespaceDeclarations, SMC_NS } from './namespaces.js';
import { element } from './xml-text.js';

const XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n';
const SCHEMA_VERSION = '1.2';

export interface SdpDocument {
  xml: string;
  notes: string[];
}

/** A single package; a revision that cannot be written validly is a conflict naming why. */
export function sdpDocument(rev: ExportRevision, options: ExportOptions): SdpDocument {
  const body = packageBody(rev, options);
  if (!body.ok) {
    throw new UpcatError(
      'conflict',
      `update ${rev.updateId} revision ${rev.revision} cannot be exported as an SDP: ${body.reason}`,
      { details: { updateId: rev.updateId, revision: rev.revision, reason: body.reason } },
    );
  }
  const open = element('sdp:SoftwareDistributionPackage', [
    ['SchemaVersion', SCHEMA_VERSION],
    ...namespaceDeclarations(),
  ]).replace(/\/>$/, '>');
  return {
    xml: `${XML_DECLARATION}${open}${body.body}</sdp:SoftwareDistributionPackage>\n`,
    notes: body.notes,
  };
}

export interface CatalogPackage {
  updateId: string;
  revision: number;
  title: string;
  notes: string[];
}

export interface CatalogDocument {
  /** The document in pieces, to write without joining 10,000 packages into one string. */
  chunks: string[];
  packages: CatalogPackage[];
  leftOut: LeftOut[];
}

export function catalogDocument(
  revisions: readonly ExportRevision[],
  options: ExportOptions,
): CatalogDocument {
  const open = element(
    'smc:SystemsManagementCatalog',
    namespaceDeclarations({ smc: SMC_NS }),
  ).replace(/\/>$/, '>');
  const chunks = [XML_DECLARATION, open, '\n'];
  const packages: CatalogPackage[] = [];
  const leftOut: LeftOut[] = [];
  const wrapperOpen = `<smc:SoftwareDistributionPackage SchemaVersion="${SCHEMA_VERSION}">`;
  for (const rev of revisions) {
    const body = packageBody(rev, options);
    const who = { updateId: rev.updateId, revision: rev.revision, title: rev.title };
    if (!body.ok) {
      leftOut.push({ ...who, reason: body.reason });
      continue;
    }
    chunks.push(wrapperOpen, body.body, '</smc:SoftwareDistributionPackage>\n');
    packages.push({ ...who, notes: body.notes });
  }
  chunks.push('</smc:SystemsManagementCatalog>\n');
  return { chunks, packages, leftOut };
}
