/**
 * The catalog as Windows Update Agents see it, built once per catalog version ([MS-WUSP]
 * 3.1.1): every active update's latest revision that can run on Windows, plus the category
 * updates it belongs to (company, product, classification), each with its server-local
 * integer revision ID, prerequisite clauses (CNF of update IDs), bundled updates, IsLeaf,
 * and its fragments derived by fragments.ts from the full metadata of update-xml.ts.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { handlerSchema, type Handler } from '../../catalog/manifest.js';
import { parseRuleJson, type Rule } from '../../rules/index.js';
import type { Db } from '../../storage/db.js';
import { now } from '../../storage/catalog-repo.js';
import { deriveFragments, type Fragments } from './fragments.js';
import type { WrappedPayload, WuspContent } from './content.js';
import { categoryUpdateXml, softwareUpdateXml, type CategoryType } from './update-xml.js';

export interface ModelRevision {
  revisionId: number;
  updateId: string;
  revisionNumber: number;
  type: 'Software' | 'Category';
  /** Prerequisites in CNF: each clause needs one of its update IDs installed. */
  clauses: string[][];
  /** Update IDs this one bundles. */
  bundles: string[];
  /** No revision names this update as a prerequisite (3.1.5.7). */
  isLeaf: boolean;
  fragments: Fragments;
  download: WrappedPayload | undefined;
  /** The highest catalog version at which a deployment of this update changed. */
  deploymentClock: number;
}

export interface WuaCatalog {
  version: number;
  byRevisionId: ReadonlyMap<number, ModelRevision>;
  byUpdateId: ReadonlyMap<string, ModelRevision>;
  /** Every revision ID this server ever assigned, to its update ID (old revisions included). */
  updateOfRevisionId: ReadonlyMap<number, string>;
  /** Downloaded files by SHA-1 (hex). */
  bySha1: ReadonlyMap<string, WrappedPayload>;
  /** Some deployment rolls out to a percentage: policies differ by client ID, not only by group. */
  partialRollout: boolean;
  /** Updates left out because their rules cannot run on Windows, with why. */
  excluded: ReadonlyMap<string, string>;
}

interface RevisionRowLite {
  id: number;
  update_id: string;
  revision_number: number;
  title: string;
  description: string;
  product: string;
  classification: string;
  handler: string;
  is_installed: string | null;
  is_installable: string | null;
  created_at: string;
}

/** A name-based GUID (RFC 4122 version 5 layout) in upcat's own namespace, stable per name. */
export function categoryId(kind: CategoryType, name: string): string {
  const h = createHash('sha1').update(`upcat-wusp-category\n${kind}\n${name}`).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Why a rule cannot run in the Windows Update Agent (upcat's Platform and Fact), or undefined. */
export function notForWindows(rule: Rule | undefined): string | undefined {
  if (rule === undefined) return undefined;
  switch (rule.kind) {
    case 'And':
    case 'Or':
      for (const r of rule.rules) {
        const why = notForWindows(r);
        if (why !== undefined) return why;
      }
      return undefined;
    case 'Not':
      return notForWindows(rule.rule);
    case 'Platform':
    case 'Fact':
      return `its rules use upcat's ${rule.kind} rule, which the Windows Update Agent does not evaluate`;
    default:
      return undefined;
  }
}

async function chunked<T>(
  ids: readonly number[],
  read: (part: number[]) => Promise<T[]>,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += 500) out.push(...(await read(ids.slice(i, i + 500))));
  return out;
}

/** Server-local revision IDs for these (update, revision) pairs, assigned on first sight. */
async function revisionIds(
  db: Db,
  pairs: ReadonlyArray<readonly [string, number]>,
): Promise<Map<string, number>> {
  const key = (u: string, r: number) => `${u}/${r}`;
  const read = async () => {
    const rows = (await db('wusp_revision_ids').select(
      'id',
      'update_id',
      'revision_number',
    )) as Array<{
      id: number;
      update_id: string;
      revision_number: number;
    }>;
    return new Map(rows.map((r) => [key(r.update_id, Number(r.revision_number)), Number(r.id)]));
  };
  let known = await read();
  const missing = pairs.filter(([u, r]) => !known.has(key(u, r)));
  if (missing.length > 0) {
    const at = now();
    for (let i = 0; i < missing.length; i += 200) {
      await db('wusp_revision_ids')
        .insert(
          missing
            .slice(i, i + 200)
            .map(([u, r]) => ({ update_id: u, revision_number: r, created_at: at })),
        )
        .onConflict(['update_id', 'revision_number'])
        .ignore();
    }
    known = await read();
  }
  return known;
}

export interface ModelDeps {
  db: Db;
  log: Logger;
  content: WuspContent;
  poolPathOf(sha256: string): string;
  companyName: string;
}

/** Builds the model of the catalog at its current version. */
export async function buildCatalog(deps: ModelDeps, version: number): Promise<WuaCatalog> {
  const { db } = deps;
  const rows = (await db('updates as u')
    .join('revisions as r', function latest() {
      this.on('r.update_id', '=', 'u.update_id').andOn(
        'r.revision_number',
        '=',
        'u.latest_revision',
      );
    })
    .where('u.state', 'active')
    .orderBy('r.id')
    .select(
      'r.id',
      'r.update_id',
      'r.revision_number',
      'r.title',
      'r.description',
      'r.product',
      'r.classification',
      'r.handler',
      'r.is_installed',
      'r.is_installable',
      'r.created_at',
    )) as RevisionRowLite[];
  const ids = rows.map((r) => Number(r.id));
  const files = await chunked(
    ids,
    (part) =>
      db('files')
        .whereIn('revision_id', part)
        .orderBy('id')
        .select('revision_id', 'name', 'sha256', 'kind') as Promise<
        Array<{ revision_id: number; name: string; sha256: string; kind: string }>
      >,
  );
  const rels = await chunked(
    ids,
    (part) =>
      db('relationships')
        .whereIn('revision_id', part)
        .orderBy('id')
        .select('revision_id', 'kind', 'group_index', 'target_update_id') as Promise<
        Array<{ revision_id: number; kind: string; group_index: number; target_update_id: string }>
      >,
  );
  const clocks = (await db('deployments')
    .groupBy('update_id')
    .select('update_id')
    .max({ v: 'catalog_version' })) as Array<{ update_id: string; v: number | string }>;
  const clockOf = new Map(clocks.map((c) => [c.update_id, Number(c.v)]));
  const partial = (await db('deployments').where('percent', '<', 100).first('id')) as unknown;

  const excluded = new Map<string, string>();
  interface Pending {
    row: RevisionRowLite;
    handler: Handler;
    isInstalled: Rule | undefined;
    isInstallable: Rule | undefined;
    prerequisites: string[][];
    bundles: string[];
    supersedes: string[];
    payload: { sha256: string; name: string } | undefined;
  }
  const pending: Pending[] = [];
  for (const row of rows) {
    const handler = handlerSchema.parse(JSON.parse(row.handler));
    const isInstalled =
      row.is_installed === null ? undefined : parseRuleJson(JSON.parse(row.is_installed));
    const isInstallable =
      row.is_installable === null ? undefined : parseRuleJson(JSON.parse(row.is_installable));
    const why = notForWindows(isInstalled) ?? notForWindows(isInstallable);
    const own = files.filter((f) => Number(f.revision_id) === Number(row.id));
    const packaged = own.find((f) => f.kind !== 'file');
    if (why !== undefined || packaged !== undefined) {
      excluded.set(
        row.update_id,
        why ?? 'its payload is an upcat package, which the Windows Update Agent cannot unpack',
      );
      continue;
    }
    const mine = rels.filter((r) => Number(r.revision_id) === Number(row.id));
    const prerequisites: string[][] = [];
    for (const r of mine.filter((m) => m.kind === 'prerequisite'))
      (prerequisites[Number(r.group_index)] ??= []).push(r.target_update_id);
    const first = own[0];
    pending.push({
      row,
      handler,
      isInstalled,
      isInstallable,
      prerequisites: prerequisites.filter((g) => g !== undefined && g.length > 0),
      bundles: mine.filter((m) => m.kind === 'bundles').map((m) => m.target_update_id),
      supersedes: mine.filter((m) => m.kind === 'supersedes').map((m) => m.target_update_id),
      payload: first === undefined ? undefined : { sha256: first.sha256, name: first.name },
    });
  }
  // Updates that depend on an excluded (or unknown) one cannot be satisfied on Windows either.
  const present = new Set(pending.map((p) => p.row.update_id));
  const usable = pending.filter((p) => {
    const missing = [
      ...p.prerequisites.filter((g) => !g.some((u) => present.has(u))).flat(),
      ...p.bundles.filter((u) => !present.has(u)),
    ];
    if (missing.length > 0)
      excluded.set(p.row.update_id, `it depends on ${missing[0]}, which is not offered to Windows`);
    return missing.length === 0;
  });

  const company = {
    updateId: categoryId('Company', deps.companyName),
    type: 'Company' as const,
    title: deps.companyName,
    parent: undefined,
  };
  const categories = new Map<
    string,
    { updateId: string; type: CategoryType; title: string; parent: string | undefined }
  >();
  categories.set(company.updateId, company);
  for (const p of usable) {
    const product = categoryId('Product', p.row.product);
    const classification = categoryId('UpdateClassification', p.row.classification);
    categories.set(product, {
      updateId: product,
      type: 'Product',
      title: p.row.product,
      parent: company.updateId,
    });
    categories.set(classification, {
      updateId: classification,
      type: 'UpdateClassification',
      title: p.row.classification,
      parent: undefined,
    });
  }

  const idOf = await revisionIds(db, [
    ...[...categories.keys()].map((u) => [u, 1] as const),
    ...usable.map((p) => [p.row.update_id, Number(p.row.revision_number)] as const),
  ]);
  const latestNumber = new Map(usable.map((p) => [p.row.update_id, Number(p.row.revision_number)]));
  const byRevisionId = new Map<number, ModelRevision>();
  const byUpdateId = new Map<string, ModelRevision>();
  const bySha1 = new Map<string, WrappedPayload>();
  const add = (m: ModelRevision) => {
    byRevisionId.set(m.revisionId, m);
    byUpdateId.set(m.updateId, m);
  };
  for (const c of categories.values()) {
    add({
      revisionId: idOf.get(`${c.updateId}/1`) as number,
      updateId: c.updateId,
      revisionNumber: 1,
      type: 'Category',
      clauses: c.parent === undefined ? [] : [[c.parent]],
      bundles: [],
      isLeaf: true,
      fragments: deriveFragments(categoryUpdateXml(c)),
      download: undefined,
      deploymentClock: 0,
    });
  }
  for (const p of usable) {
    const categoryClauses = [
      [categoryId('Product', p.row.product)],
      [categoryId('UpdateClassification', p.row.classification)],
    ];
    const download =
      p.payload === undefined
        ? undefined
        : await deps.content.ensure({
            sha256: p.payload.sha256,
            name: p.payload.name,
            path: deps.poolPathOf(p.payload.sha256),
          });
    if (download !== undefined) bySha1.set(download.sha1, download);
    const xml = softwareUpdateXml({
      updateId: p.row.update_id,
      revisionNumber: Number(p.row.revision_number),
      title: p.row.title,
      description: p.row.description,
      created: p.row.created_at,
      handler: p.handler,
      isInstalled: p.isInstalled,
      isInstallable: p.isInstallable,
      categories: categoryClauses.map((c) => c[0] as string),
      prerequisites: p.prerequisites,
      bundles: p.bundles.map((u) => ({ updateId: u, revisionNumber: latestNumber.get(u) ?? 1 })),
      supersedes: p.supersedes,
      file: download,
    });
    add({
      revisionId: idOf.get(`${p.row.update_id}/${Number(p.row.revision_number)}`) as number,
      updateId: p.row.update_id,
      revisionNumber: Number(p.row.revision_number),
      type: 'Software',
      clauses: [...categoryClauses, ...p.prerequisites],
      bundles: p.bundles,
      isLeaf: true,
      fragments: deriveFragments(xml),
      download,
      deploymentClock: clockOf.get(p.row.update_id) ?? 0,
    });
  }
  for (const m of byRevisionId.values()) {
    for (const clause of m.clauses) {
      for (const u of clause) {
        const target = byUpdateId.get(u);
        if (target !== undefined) target.isLeaf = false;
      }
    }
  }
  const updateOfRevisionId = new Map<number, string>();
  for (const [k, id] of idOf) updateOfRevisionId.set(id, k.slice(0, k.indexOf('/')));
  if (excluded.size > 0)
    deps.log.debug({ excluded: excluded.size }, 'updates not offered to Windows Update Agents');
  return {
    version,
    byRevisionId,
    byUpdateId,
    updateOfRevisionId,
    bySha1,
    partialRollout: partial !== undefined,
    excluded,
  };
}
