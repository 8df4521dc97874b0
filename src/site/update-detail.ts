import type { Knex } from 'knex';
import { notFound } from '../errors.js';
import * as repo from '../storage/catalog-repo.js';
import type { DeploymentAction } from './deployments.js';
import { latestJoin, statusOf } from './update-query.js';
import type { UpdateStatus } from './update-filters.js';

/**
 * One update as `GET /v1/updates/:updateId` and `upcat updates show` give it (issue 14 item 1;
 * WSUS's update properties): every revision with its files, applicability rules and
 * relationships, the updates that name this one, and where it is deployed.
 */
type Q = Knex | Knex.Transaction;

export interface RevisionDetail {
  revision: number;
  title: string;
  description: string;
  product: string;
  classification: string;
  version: string;
  published: string;
  catalogVersion: number;
  /** The install handler as published (JSON). */
  handler: unknown;
  /** The applicability rules (JSON rule trees, docs/MANIFEST.md); null when absent. */
  isInstalled: unknown;
  isInstallable: unknown;
  files: Array<{ name: string; size: number; sha256: string; sha1: string; kind: string }>;
  /** An AND of OR-groups of update IDs. */
  prerequisites: string[][];
  supersedes: string[];
  bundles: string[];
}

export interface UpdateDeployment {
  group: string;
  action: DeploymentAction;
  deadline: string | null;
  percent: number;
  catalogVersion: number;
  /** False when the update is not live: the deployment stays stored but offers nothing. */
  offered: boolean;
}

export interface UpdateDetail {
  updateId: string;
  title: string;
  product: string;
  classification: string;
  status: UpdateStatus;
  latestRevision: number;
  firstPublished: string;
  published: string;
  expiredAt: string | null;
  declinedAt: string | null;
  /** The update that replaces this one (what stops it being offered), if any. */
  supersededBy: string | null;
  /** Updates whose latest revision names this one, by relationship. */
  namedBy: { supersedes: string[]; bundles: string[]; prerequisite: string[] };
  revisions: RevisionDetail[];
  deployments: UpdateDeployment[];
}

interface UpdateRowWithDecline extends repo.UpdateRow {
  declined_at: string | null;
  title: string;
  published: string;
}

export async function updateDetail(q: Q, updateId: string): Promise<UpdateDetail> {
  const u = (await latestJoin(q)
    .where('u.update_id', updateId)
    .first('u.*', 'r.title', 'r.created_at as published')) as UpdateRowWithDecline | undefined;
  if (u === undefined) throw notFound(`update ${updateId} does not exist`, { updateId });
  const status = statusOf(u);
  const revisions = (await q('revisions')
    .where({ update_id: updateId })
    .orderBy('revision_number')) as repo.RevisionRow[];
  return {
    updateId,
    title: u.title,
    product: u.product,
    classification: u.classification,
    status,
    latestRevision: Number(u.latest_revision),
    firstPublished: u.created_at,
    published: u.published,
    expiredAt: u.expired_at,
    declinedAt: u.declined_at,
    supersededBy: u.superseded_by,
    namedBy: await namedBy(q, updateId),
    revisions: await Promise.all(revisions.map((r) => revisionDetail(q, r))),
    deployments: await deploymentsOf(q, updateId, status === 'live'),
  };
}

async function revisionDetail(q: Q, r: repo.RevisionRow): Promise<RevisionDetail> {
  const files = await repo.filesOf(q, r.id);
  const rels = await repo.relationshipsOf(q, r.id);
  const prerequisites: string[][] = [];
  for (const rel of rels.filter((x) => x.kind === 'prerequisite'))
    (prerequisites[Number(rel.group_index)] ??= []).push(rel.target_update_id);
  const targets = (kind: repo.RelationshipRow['kind']): string[] =>
    rels.filter((x) => x.kind === kind).map((x) => x.target_update_id);
  return {
    revision: Number(r.revision_number),
    title: r.title,
    description: r.description,
    product: r.product,
    classification: r.classification,
    version: r.version,
    published: r.created_at,
    catalogVersion: Number(r.catalog_version),
    handler: jsonOf(r.handler),
    isInstalled: jsonOf(r.is_installed),
    isInstallable: jsonOf(r.is_installable),
    files: files.map((f) => ({
      name: f.name,
      size: f.size,
      sha256: f.sha256,
      sha1: f.sha1,
      kind: f.kind,
    })),
    // Groups are numbered from 0 without gaps when published; a gap would be a hole here.
    prerequisites: prerequisites.filter((g) => g !== undefined),
    supersedes: targets('supersedes'),
    bundles: targets('bundles'),
  };
}

/** The updates whose latest revision supersedes, bundles or requires this one. */
async function namedBy(q: Q, updateId: string): Promise<UpdateDetail['namedBy']> {
  const rows = (await latestJoin(q)
    .join('relationships as rel', 'rel.revision_id', 'r.id')
    .where('rel.target_update_id', updateId)
    .orderBy('u.update_id')
    .distinct('u.update_id', 'rel.kind')) as Array<{ update_id: string; kind: string }>;
  const of = (kind: string): string[] =>
    rows.filter((r) => r.kind === kind).map((r) => r.update_id);
  return {
    supersedes: of('supersedes'),
    bundles: of('bundles'),
    prerequisite: of('prerequisite'),
  };
}

async function deploymentsOf(
  q: Q,
  updateId: string,
  offered: boolean,
): Promise<UpdateDeployment[]> {
  const rows = (await q('deployments as d')
    .join('groups as g', 'g.id', 'd.group_id')
    .where('d.update_id', updateId)
    .orderBy('g.name')
    .select('g.name', 'd.action', 'd.deadline', 'd.percent', 'd.catalog_version')) as Array<{
    name: string;
    action: DeploymentAction;
    deadline: string | null;
    percent: number | string;
    catalog_version: number | string;
  }>;
  return rows.map((d) => ({
    group: d.name,
    action: d.action,
    deadline: d.deadline,
    percent: Number(d.percent),
    catalogVersion: Number(d.catalog_version),
    offered,
  }));
}

/** A stored JSON column (handler, rules); text that is not JSON is shown as it is. */
function jsonOf(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
