import type { TargetChecker } from './target-check.js';

/**
 * What a targeted `upcat verify` checks instead of walking every target: that the build a
 * pipeline has just published is in the signed catalog (docs/CI-EXAMPLE.md step 4).
 */
export interface VerifySelection {
  /** An update: its signed document (at this revision, when given) and every payload it names. */
  update?: { id: string; revision?: number };
  /** More target names (`payloads/<sha256>`, `updates/<id>.xml`), each of which must be signed. */
  targets?: readonly string[];
}

export async function verifySelection(
  checker: TargetChecker,
  selection: VerifySelection,
): Promise<void> {
  if (selection.update !== undefined) await verifyUpdate(checker, selection.update);
  for (const name of selection.targets ?? [])
    if (!checker.checked.includes(name)) await checker.check(name);
}

/**
 * The document is read only after tuf-js verified it, so the payload digests it names are as
 * trusted as the catalog; each payload is then checked as a target of its own.
 */
async function verifyUpdate(
  checker: TargetChecker,
  update: { id: string; revision?: number },
): Promise<void> {
  // Loaded here, not at the top: the XML reader brings zod and the rule schemas (~0.2 s of CPU),
  // which a run over the whole catalog never uses (issue 16).
  const [{ revisionFromXml }, { documentTargetName, payloadTargetName }] = await Promise.all([
    import('../catalog/update-xml.js'),
    import('../publish/catalog-targets.js'),
  ]);
  const name = documentTargetName(update.id);
  const bytes = await checker.read(name);
  if (bytes === undefined) return;
  let doc;
  try {
    doc = revisionFromXml(bytes.toString('utf8'));
  } catch (err) {
    checker.problems.push(`${name}: not an update document (${(err as Error).message})`);
    return;
  }
  if (doc.updateId.toLowerCase() !== update.id.toLowerCase())
    checker.problems.push(`${name}: the signed document is of update ${doc.updateId}`);
  if (update.revision !== undefined && doc.revisionNumber !== update.revision)
    checker.problems.push(
      `${name}: the signed catalog has revision ${doc.revisionNumber}, not ${update.revision}`,
    );
  if (doc.files.length === 0) checker.problems.push(`${name}: the document names no payload`);
  for (const file of doc.files) await checker.check(payloadTargetName(file.sha256));
}
