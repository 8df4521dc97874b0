import type { Knex } from 'knex';
import { invalidInput } from '../errors.js';
import { findUpdates, latestTargets } from '../storage/catalog-repo.js';
import type { Manifest } from '../catalog/manifest.js';

/**
 * Checks a manifest's relationships against the catalog: every prerequisite and superseded
 * update exists, none is the update itself, and the new revision closes no cycle (an update
 * that, through prerequisites or supersedence, would depend on itself could never install).
 */
export async function checkRelationships(
  q: Knex | Knex.Transaction,
  manifest: Manifest,
  updateId: string | undefined,
): Promise<void> {
  const prerequisites = manifest.prerequisites.flat();
  await requireKnown(q, prerequisites, 'prerequisites');
  await requireKnown(q, manifest.supersedes, 'supersedes');
  if (updateId === undefined) return; // a brand-new update can be in no cycle yet
  if (prerequisites.includes(updateId)) {
    throw invalidInput(`prerequisites: update ${updateId} cannot be its own prerequisite`);
  }
  if (manifest.supersedes.includes(updateId)) {
    throw invalidInput(`supersedes: update ${updateId} cannot supersede itself`);
  }
  await refuseCycle(q, updateId, prerequisites, 'prerequisite', 'prerequisites');
  await refuseCycle(q, updateId, manifest.supersedes, 'supersedes', 'supersedes');
}

async function requireKnown(
  q: Knex | Knex.Transaction,
  ids: readonly string[],
  field: string,
): Promise<void> {
  const unique = [...new Set(ids)];
  const found = new Set((await findUpdates(q, unique)).map((u) => u.update_id));
  const missing = unique.filter((id) => !found.has(id));
  if (missing.length > 0) {
    throw invalidInput(`${field}: unknown update ${missing.join(', ')}`, { field, missing });
  }
}

/** Walks the graph breadth-first from the new edges' targets, looking for `self`. */
async function refuseCycle(
  q: Knex | Knex.Transaction,
  self: string,
  start: readonly string[],
  kind: 'prerequisite' | 'supersedes',
  field: string,
): Promise<void> {
  const seen = new Set<string>(start);
  let frontier = [...seen];
  while (frontier.length > 0) {
    const edges = await latestTargets(q, frontier, kind);
    frontier = [];
    for (const edge of edges) {
      if (edge.target_update_id === self) {
        throw invalidInput(
          `${field}: would make a cycle (update ${edge.update_id} already leads back to ${self})`,
        );
      }
      if (!seen.has(edge.target_update_id)) {
        seen.add(edge.target_update_id);
        frontier.push(edge.target_update_id);
      }
    }
  }
}
