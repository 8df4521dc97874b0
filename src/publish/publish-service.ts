import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { conflict, invalidInput, UpcatError } from '../errors.js';
import { canonicalJson } from '../catalog/canonical-json.js';
import { parseManifest, type Manifest } from '../catalog/manifest.js';
import type { Db } from '../storage/db.js';
import type { BlobStore, StagedBlob } from '../storage/blobs/store.js';
import * as repo from '../storage/catalog-repo.js';
import { checkPayload, type PayloadKind, type PayloadLimits } from './payload-check.js';
import { checkRelationships } from './relations-check.js';
import { deriveMsiRules } from './msi-rules.js';
import { revisionTargets } from './catalog-targets.js';
import { writeRevisionArtifacts } from './revision-artifacts.js';
import type { TufPublisher } from './tuf-publisher.js';
import type { SiteSigning } from '../signing/site-signing.js';
import type { TargetChanges } from '../signing/tuf-targets.js';
import { normalizeRules, type NormalizedRules } from './rules-check.js';
import { writeCatalog } from '../storage/catalog-writer.js';

export interface PublishInput {
  /** The payload's bytes, streamed; never buffered whole. */
  source: Readable | AsyncIterable<Uint8Array>;
  /** The payload's file name, as endpoints will see it. */
  fileName: string;
  /** The manifest document, already parsed from JSON (it is validated here). */
  manifest: unknown;
  /** Who publishes (a user, or a token's name), for the audit log. */
  actor: string;
}

/** What `upcat publish --json` prints and `POST /v1/updates` answers. */
export interface PublishResult {
  updateId: string;
  revision: number;
  catalogVersion: number;
  sha256: string;
  sha1: string;
  size: number;
  /** False when the same bytes and manifest were already published (idempotent repeat). */
  created: boolean;
}

/** What `upcat publish --json` prints and `POST /v1/updates` answers: one shape for both. */
export type PublishAnswer = Omit<PublishResult, 'created'>;

export function publishAnswer(result: PublishResult): PublishAnswer {
  return {
    updateId: result.updateId,
    revision: result.revision,
    catalogVersion: result.catalogVersion,
    sha256: result.sha256,
    sha1: result.sha1,
    size: result.size,
  };
}

export interface PublishDeps {
  db: Db;
  pool: BlobStore;
  /** Undefined until `upcat init` has made the site's keys: publishing then refuses. */
  signing: SiteSigning | undefined;
  tuf: TufPublisher | undefined;
  limits: PayloadLimits & { maxPayloadBytes: number };
  log: Logger;
}

/**
 * Publish (DESIGN.md §7): validate -> stage payload (hashed, fsynced) -> one transaction that
 * resolves the update, writes the revision and moves the catalog version -> the staged payload is
 * renamed into the pool before the commit. Any failure rolls the transaction back and discards the
 * staged file; a crash leaves at worst an unreferenced pool file, never a row without a payload.
 */
export class PublishService {
  constructor(private readonly deps: PublishDeps) {}

  async publish(input: PublishInput): Promise<PublishResult> {
    const signing = this.deps.signing;
    const tuf = this.deps.tuf;
    if (signing === undefined || tuf === undefined) {
      throw new UpcatError('conflict', 'this site has no signing keys yet: run "upcat init" first');
    }
    const manifest = parseManifest(input.manifest);
    const rules = normalizeRules(manifest);
    // Fail fast on unknown relationships before any byte is written (checked again under lock).
    await checkRelationships(this.deps.db, manifest, manifest.updateId);

    const staged = await this.deps.pool.stage(input.source, this.deps.limits.maxPayloadBytes);
    try {
      if (staged.size === 0) throw invalidInput(`payload "${input.fileName}" is empty`);
      const kind = await checkPayload(
        staged.path,
        input.fileName,
        manifest.handler,
        this.deps.limits,
      );
      const result = await this.commit({
        signing,
        manifest,
        rules: await deriveMsiRules(staged.path, input.fileName, manifest, rules),
        staged,
        kind,
        fileName: input.fileName,
        actor: input.actor,
      });
      // A repeat also heals a repository left behind by a crash between commit and signing.
      await tuf.advance(
        result.catalogVersion,
        result.created ? await this.targetChanges(result) : undefined,
      );
      if (result.created) {
        this.deps.log.info(
          {
            updateId: result.updateId,
            revision: result.revision,
            catalogVersion: result.catalogVersion,
          },
          'published',
        );
      }
      return result;
    } finally {
      // After a successful commit the staged file is already renamed away; this is then a no-op.
      await staged.discard();
    }
  }

  /** What the new revision changes in the TUF targets: its own, replacing the previous revision's. */
  private async targetChanges(result: PublishResult): Promise<TargetChanges> {
    const add = await revisionTargets(this.deps.db, result.updateId, result.revision);
    const previous =
      result.revision > 1
        ? await revisionTargets(this.deps.db, result.updateId, result.revision - 1)
        : [];
    const names = new Set(add.map((t) => t.name));
    return { add, remove: previous.map((t) => t.name).filter((n) => !names.has(n)) };
  }

  private async commit(args: {
    signing: SiteSigning;
    manifest: Manifest;
    rules: NormalizedRules;
    staged: StagedBlob;
    kind: PayloadKind;
    fileName: string;
    actor: string;
  }): Promise<PublishResult> {
    const { manifest, staged } = args;
    const contentKey = contentKeyOf(manifest, args.fileName, staged.sha256);
    return writeCatalog(this.deps.db, async (trx) => {
      await repo.lockCatalog(trx);
      const target = await resolveUpdate(trx, manifest, staged.sha256);
      await checkRelationships(trx, manifest, target.updateId);

      const latest = target.existing ? await repo.latestRevision(trx, target.updateId) : undefined;
      if (latest !== undefined && latest.content_key === contentKey) {
        return {
          updateId: target.updateId,
          revision: latest.revision_number,
          catalogVersion: await repo.currentCatalogVersion(trx),
          sha256: staged.sha256,
          sha1: staged.sha1,
          size: staged.size,
          created: false,
        };
      }

      const revision = (latest?.revision_number ?? 0) + 1;
      const catalogVersion = await repo.nextCatalogVersion(trx, {
        reason: 'publish',
        updateId: target.updateId,
        revision,
        actor: args.actor,
      });
      const created = repo.now();
      await writeRevision(trx, { ...args, contentKey, revision, catalogVersion, target, created });
      const document = await writeRevisionArtifacts(trx, this.deps.pool, args.signing, {
        updateId: target.updateId,
        revision,
        created,
        manifest,
        rules: args.rules,
        payload: {
          name: args.fileName,
          sha256: staged.sha256,
          sha1: staged.sha1,
          size: staged.size,
          kind: args.kind,
        },
      });
      await repo.audit(trx, {
        actor: args.actor,
        action: 'publish',
        target: `${target.updateId}/${revision}`,
        detail: { title: manifest.title, version: manifest.version, sha256: staged.sha256 },
      });
      // The payload and document become visible before the rows that name them do (at commit).
      await staged.commit();
      await document.commit();
      return {
        updateId: target.updateId,
        revision,
        catalogVersion,
        sha256: staged.sha256,
        sha1: staged.sha1,
        size: staged.size,
        created: true,
      };
    });
  }
}

/** Idempotency key: the manifest without its updateId, the file name and the payload digest. */
function contentKeyOf(manifest: Manifest, fileName: string, sha256: string): string {
  const rest: Partial<Manifest> = { ...manifest };
  delete rest.updateId;
  return createHash('sha256')
    .update(canonicalJson({ manifest: rest, fileName, sha256 }))
    .digest('hex');
}

/**
 * Which update this publish belongs to. A product and version belong to one update and one
 * payload: the same version with other bytes is a conflict that names the existing update.
 */
async function resolveUpdate(
  trx: Db,
  manifest: Manifest,
  sha256: string,
): Promise<{ updateId: string; existing: boolean }> {
  const sameVersion = await repo.findByProductVersion(trx, manifest.product, manifest.version);
  if (sameVersion !== undefined) {
    const files = await repo.filesOf(trx, sameVersion.id);
    if (!files.some((f) => f.sha256 === sha256)) {
      throw conflict(
        `${manifest.product} ${manifest.version} is already published as update ${sameVersion.update_id} with other content`,
        { updateId: sameVersion.update_id },
      );
    }
    if (manifest.updateId !== undefined && manifest.updateId !== sameVersion.update_id) {
      throw conflict(
        `${manifest.product} ${manifest.version} is already published as update ${sameVersion.update_id}, not ${manifest.updateId}`,
        { updateId: sameVersion.update_id },
      );
    }
  }
  const updateId = manifest.updateId ?? sameVersion?.update_id;
  if (updateId === undefined) return { updateId: randomUUID(), existing: false };

  const update = await repo.findUpdate(trx, updateId);
  if (update === undefined) return { updateId, existing: false };
  if (update.state !== 'active') {
    throw conflict(`update ${updateId} is ${update.state}; it takes no new revisions`, {
      updateId,
    });
  }
  if (update.product !== manifest.product) {
    throw conflict(
      `update ${updateId} is for product "${update.product}", not "${manifest.product}"`,
      { updateId },
    );
  }
  return { updateId, existing: true };
}

async function writeRevision(
  trx: Db,
  args: {
    manifest: Manifest;
    rules: NormalizedRules;
    staged: StagedBlob;
    kind: PayloadKind;
    fileName: string;
    contentKey: string;
    revision: number;
    catalogVersion: number;
    target: { updateId: string; existing: boolean };
    created: string;
  },
): Promise<void> {
  const { manifest, staged, target } = args;
  const createdAt = args.created;
  if (target.existing) {
    await trx('updates')
      .where({ update_id: target.updateId })
      .update({ latest_revision: args.revision, classification: manifest.classification });
  } else {
    await trx('updates').insert({
      update_id: target.updateId,
      product: manifest.product,
      classification: manifest.classification,
      state: 'active',
      created_at: createdAt,
      latest_revision: args.revision,
    });
  }
  const [inserted] = (await trx('revisions')
    .insert({
      update_id: target.updateId,
      revision_number: args.revision,
      title: manifest.title,
      description: manifest.description,
      product: manifest.product,
      classification: manifest.classification,
      version: manifest.version,
      handler: JSON.stringify(manifest.handler),
      is_installed: args.rules.isInstalled,
      is_installable: args.rules.isInstallable,
      content_key: args.contentKey,
      catalog_version: args.catalogVersion,
      created_at: createdAt,
    })
    .returning('id')) as Array<{ id: number } | number>;
  const revisionId = typeof inserted === 'object' ? inserted.id : inserted;
  if (revisionId === undefined) throw new UpcatError('internal', 'revision insert returned no id');

  await repo.insertBlob(trx, staged);
  await trx('files').insert({
    revision_id: revisionId,
    name: args.fileName,
    sha256: staged.sha256,
    sha1: staged.sha1,
    size: staged.size,
    kind: args.kind,
  });
  const relationships = [
    ...manifest.prerequisites.flatMap((group, index) =>
      group.map((id) => ({ kind: 'prerequisite', group_index: index, target_update_id: id })),
    ),
    ...manifest.supersedes.map((id) => ({
      kind: 'supersedes',
      group_index: 0,
      target_update_id: id,
    })),
  ];
  if (relationships.length > 0) {
    await trx('relationships').insert(
      relationships.map((r) => ({ ...r, revision_id: revisionId })),
    );
  }
  if (manifest.supersedes.length > 0) {
    await trx('updates')
      .whereIn('update_id', manifest.supersedes)
      .update({ superseded_by: target.updateId });
  }
}
