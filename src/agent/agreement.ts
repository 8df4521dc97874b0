import type { Updater } from 'tuf-js';
import type { RevisionDocument } from '../catalog/update-xml.js';
import { UpcatError } from '../errors.js';
import type { AgentPolicyEntry } from './state.js';

/**
 * The director/image check (DESIGN.md §3): the site's signed policy (director) and the TUF
 * targets (image repository) must agree on the revision and on every payload's SHA-256 and size
 * before anything is downloaded. Either alone is not enough: a stolen policy key cannot name a
 * payload the catalog did not sign, and a catalog target is installed only where policy says.
 */
export async function checkAgreement(
  updater: Pick<Updater, 'getTargetInfo'>,
  entry: AgentPolicyEntry,
  doc: Pick<RevisionDocument, 'updateId' | 'revisionNumber' | 'files'>,
): Promise<void> {
  const fail = (why: string): UpcatError =>
    new UpcatError(
      'integrity',
      `update ${entry.updateId}: policy and signed catalog disagree: ${why}`,
    );
  if (doc.updateId.toLowerCase() !== entry.updateId.toLowerCase())
    throw fail(`the document is for ${doc.updateId}`);
  if (doc.revisionNumber !== entry.revision)
    throw fail(`policy says revision ${entry.revision}, the catalog has ${doc.revisionNumber}`);
  if (doc.files.length !== entry.files.length) throw fail('they list different files');
  for (const file of entry.files) {
    const named = doc.files.find((f) => f.sha256 === file.sha256);
    if (named === undefined) throw fail(`payload ${file.sha256} is not in the document`);
    if (named.size !== file.size)
      throw fail(
        `payload ${file.sha256}: policy says ${file.size} bytes, the document ${named.size}`,
      );
    const target = await updater.getTargetInfo(`payloads/${file.sha256}`);
    if (target === undefined) throw fail(`payload ${file.sha256} is not a signed target`);
    if (target.hashes['sha256'] !== file.sha256)
      throw fail(`payload ${file.sha256}: the signed target states another SHA-256`);
    if (target.length !== file.size)
      throw fail(
        `payload ${file.sha256}: policy says ${file.size} bytes, the signed target ${target.length}`,
      );
  }
}
