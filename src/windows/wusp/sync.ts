/**
 * SyncUpdates' computation ([MS-WUSP] 3.1.5.7), a pure function of the catalog model, the
 * client's deployments (the site's policy: sync/policy.ts) and the request:
 * 1. NeededRevisions: the deployed updates plus their prerequisite and bundle dependencies, kept
 *    when every prerequisite clause has an update among InstalledNonLeafUpdateIDs.
 * 2. CachedRevisions: InstalledNonLeafUpdateIDs and OtherCachedUpdateIDs.
 * 3. NewUpdates: Needed not Cached, at most one (the highest) revision per update, delivered in
 *    the order the prerequisite graph needs: roots (categories, detectoids), then other non-leaf
 *    updates, then bundles and their bundled updates, then leaf updates; a page at a time
 *    (Truncated past it). OutOfScopeRevisionIDs: Cached not Needed. ChangedUpdates: Needed and
 *    Cached whose deployment changed after the sync anchor in the cookie.
 * Actions: an update deployed to the client carries its deployment's action (Install,
 * OptionalInstall, Uninstall); one present only because a bundle holds it, Bundle; one present
 * only as a prerequisite, Evaluate.
 */
import type { DeploymentAction } from '../../site/deployments.js';
import type { DeploymentActionName, DeploymentInfo, UpdateInfo } from './contract.js';
import type { ModelRevision, WuaCatalog } from './catalog-model.js';

export interface Deployed {
  updateId: string;
  action: DeploymentAction;
  deadline: string | null;
}

export interface SyncInput {
  installedNonLeaf: readonly number[];
  otherCached: readonly number[];
  /** The anchor of the cookie: catalog version and policy epoch of the last answer. */
  anchor: { catalogVersion: number; policyEpoch: number };
  policyEpoch: number;
  pageSize: number;
}

export interface SyncResult {
  newUpdates: UpdateInfo[];
  outOfScope: number[];
  changedUpdates: UpdateInfo[];
  truncated: boolean;
}

const ACTION: Record<DeploymentAction, DeploymentActionName> = {
  install: 'Install',
  optional: 'OptionalInstall',
  uninstall: 'Uninstall',
};

/** The update IDs a client needs, each with its action, before prerequisites are checked. */
export function neededActions(
  catalog: WuaCatalog,
  deployed: readonly Deployed[],
): Map<string, { action: DeploymentActionName; deadline: string | null }> {
  const out = new Map<string, { action: DeploymentActionName; deadline: string | null }>();
  const queue: string[] = [];
  for (const d of deployed) {
    if (!catalog.byUpdateId.has(d.updateId)) continue;
    out.set(d.updateId, { action: ACTION[d.action], deadline: d.deadline });
    queue.push(d.updateId);
  }
  // Dependencies: bundled updates (Bundle) and prerequisites (Evaluate), transitively.
  while (queue.length > 0) {
    const m = catalog.byUpdateId.get(queue.pop() as string);
    if (m === undefined) continue;
    for (const child of m.bundles) {
      if (!out.has(child) && catalog.byUpdateId.has(child)) {
        out.set(child, { action: 'Bundle', deadline: null });
        queue.push(child);
      }
    }
    for (const u of m.clauses.flat()) {
      if (!out.has(u) && catalog.byUpdateId.has(u)) {
        out.set(u, { action: 'Evaluate', deadline: null });
        queue.push(u);
      }
    }
  }
  return out;
}

function stageOf(m: ModelRevision, action: DeploymentActionName): number {
  if (m.clauses.length === 0) return 0;
  if (!m.isLeaf) return 1;
  if (m.bundles.length > 0 || action === 'Bundle') return 2;
  return 3;
}

function deploymentOf(
  m: ModelRevision,
  action: DeploymentActionName,
  deadline: string | null,
): DeploymentInfo {
  const explicit = action !== 'Evaluate' && action !== 'Bundle';
  return {
    // Stable per revision and action; not the row of any one group (policy merges groups).
    id:
      m.revisionId * 8 +
      ['Install', 'OptionalInstall', 'Uninstall', 'Evaluate', 'Bundle'].indexOf(action),
    action,
    deadline: deadline ?? undefined,
    isAssigned: explicit && action !== 'OptionalInstall',
    lastChangeTime: '2000-01-01',
  };
}

export function computeSync(
  catalog: WuaCatalog,
  deployed: readonly Deployed[],
  input: SyncInput,
): SyncResult {
  const actions = neededActions(catalog, deployed);
  const installedUpdates = new Set<string>();
  for (const id of input.installedNonLeaf) {
    const u = catalog.updateOfRevisionId.get(id);
    if (u !== undefined) installedUpdates.add(u);
  }
  const needed = new Map<
    number,
    { m: ModelRevision; action: DeploymentActionName; deadline: string | null }
  >();
  for (const [updateId, a] of actions) {
    const m = catalog.byUpdateId.get(updateId) as ModelRevision;
    if (m.clauses.every((clause) => clause.some((u) => installedUpdates.has(u)))) {
      needed.set(m.revisionId, { m, action: a.action, deadline: a.deadline });
    }
  }
  const cached = new Set<number>([...input.installedNonLeaf, ...input.otherCached]);
  const outOfScope = [...cached].filter((id) => !needed.has(id)).sort((a, b) => a - b);
  const fresh = [...needed.values()]
    .filter((n) => !cached.has(n.m.revisionId))
    .map((n) => ({ ...n, stage: stageOf(n.m, n.action) }))
    .sort(
      (a, b) =>
        a.stage - b.stage ||
        Number(a.m.bundles.length > 0) - Number(b.m.bundles.length > 0) ||
        a.m.revisionId - b.m.revisionId,
    );
  const stage = fresh[0]?.stage;
  const page = fresh.filter((f) => f.stage === stage).slice(0, input.pageSize);
  const info = (
    n: { m: ModelRevision; action: DeploymentActionName; deadline: string | null },
    xml: boolean,
  ): UpdateInfo => ({
    id: n.m.revisionId,
    deployment: deploymentOf(n.m, n.action, n.deadline),
    isLeaf: n.m.isLeaf,
    xml: xml ? n.m.fragments.core : undefined,
  });
  const everything = input.anchor.policyEpoch !== input.policyEpoch;
  const changedUpdates = [...needed.values()]
    .filter((n) => cached.has(n.m.revisionId))
    .filter((n) => everything || n.m.deploymentClock > input.anchor.catalogVersion)
    .map((n) => info(n, false));
  return {
    newUpdates: page.map((n) => info(n, true)),
    outOfScope,
    changedUpdates,
    truncated: page.length < fresh.length,
  };
}
