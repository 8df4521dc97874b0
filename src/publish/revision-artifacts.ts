import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import type { Manifest } from '../catalog/manifest.js';
import { revisionToXml, type RevisionDocument } from '../catalog/update-xml.js';
import { parseRuleJson } from '../rules/index.js';
import type { SiteSigning } from '../signing/site-signing.js';
import { signDigest } from '../signing/cms.js';
import type { BlobStore, StagedBlob } from '../storage/blobs/store.js';
import { insertBlob } from '../storage/catalog-repo.js';
import type { PayloadKind } from './payload-check.js';
import type { NormalizedRules } from './rules-check.js';

export interface RevisionFacts {
  updateId: string;
  revision: number;
  created: string;
  manifest: Manifest;
  rules: NormalizedRules;
  payload: { name: string; sha256: string; sha1: string; size: number; kind: PayloadKind };
  /** An imported vendor package's own RebootBehavior (issue 11), else derived from the handler. */
  rebootBehavior?: RevisionDocument['rebootBehavior'];
}

/**
 * Inside the publish transaction: writes the revision's update metadata document (MS-WUSP XML)
 * into the pool and names it on the revision row, and signs the payload (detached CMS, DESIGN.md
 * §3). Both are content-addressed files written before the commit, like the payload itself.
 * Returns the staged document, which the caller commits into the pool with the payload.
 */
export async function writeRevisionArtifacts(
  trx: Knex.Transaction,
  pool: BlobStore,
  signing: SiteSigning,
  facts: RevisionFacts,
): Promise<StagedBlob> {
  const xml = Buffer.from(revisionToXml(documentOf(facts)), 'utf8');
  const staged = await pool.stage(Readable.from([xml]), xml.length);
  await insertBlob(trx, staged);
  await trx('revisions')
    .where({ update_id: facts.updateId, revision_number: facts.revision })
    .update({ document_sha256: staged.sha256, document_size: staged.size });
  // The signature covers the payload's SHA-256, already computed while it streamed in.
  const der = signDigest(Buffer.from(facts.payload.sha256, 'hex'), signing.publisher);
  await pool.writeSignature(facts.payload.sha256, der);
  return staged;
}

/** The revision's update document (exported so an import's dry run validates it too). */
export function documentOf(facts: RevisionFacts): RevisionDocument {
  const { manifest, rules } = facts;
  const doc: RevisionDocument = {
    updateId: facts.updateId,
    revisionNumber: facts.revision,
    title: manifest.title,
    description: manifest.description,
    product: manifest.product,
    classification: manifest.classification,
    version: manifest.version,
    created: facts.created,
    handler: manifest.handler,
    prerequisites: manifest.prerequisites,
    supersedes: manifest.supersedes,
    bundles: [],
    files: [facts.payload],
  };
  if (facts.rebootBehavior !== undefined) doc.rebootBehavior = facts.rebootBehavior;
  if (rules.isInstalled !== null)
    doc.isInstalled = parseRuleJson(JSON.parse(rules.isInstalled), 'isInstalled');
  if (rules.isInstallable !== null) {
    doc.isInstallable = parseRuleJson(JSON.parse(rules.isInstallable), 'isInstallable');
  }
  return doc;
}
