import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { SiteConfig } from '../config/schema.js';
import { UpcatError } from '../errors.js';
import { isVersion } from '../rules/version.js';
import { noteChange } from '../storage/changes.js';
import { audit, now } from '../storage/catalog-repo.js';
import { dbKind, type Db } from '../storage/db.js';
import { receivesPolicy } from '../sync/policy.js';
import { parseWith } from '../validation.js';
import { checkCompatibility } from './compatibility.js';
import {
  bumpEpoch,
  clientsByHardware,
  groupIdByName,
  lockKey,
  ALL_COMPUTERS,
  UNASSIGNED,
  type ClientRow,
  type Q,
} from './client-repo.js';
import { checkCsr, type ClientCertificates } from './certificates.js';
import { checkEnrollmentToken } from './enrollment.js';
import { multiline, text } from './fields.js';
import { GroupCommit } from './group-commit.js';
import { authenticateSecret } from './identity.js';
import { issueSecret } from './secrets.js';

/** `POST /v1/clients` body (issue 5 item 2); unknown fields are errors. Bounds are the columns'. */
export const registrationSchema = z
  .object({
    hardwareId: text(128),
    name: text(255),
    os: text(128),
    architecture: z
      .string()
      .regex(/^[A-Za-z0-9_]{1,16}$/, 'must be an architecture name such as x64'),
    clientVersion: z.string().max(64).refine(isVersion, 'must be a version such as 1.2.0'),
    group: text(128).optional(),
    protocolVersion: z
      .string()
      .regex(/^\d+\.\d+$/, 'must be a protocol version such as 1.0')
      .default('1.0'),
    enrollmentToken: text(256).optional(),
    /** Native mode: a PEM PKCS#10 request (RSA) for the client certificate issued on approval. */
    csr: multiline(16_384).min(1).optional(),
  })
  .strict();

export type RegistrationInput = z.output<typeof registrationSchema>;
export type ClientStatus = 'approved' | 'pending' | 'conflict';

export interface Registered {
  clientId: string;
  secret: string;
  status: ClientStatus;
  /** Native mode: the client certificate (PEM), when approval issued it with this answer. */
  certificate?: string;
}

export interface RegisterContext {
  /** The secret a client presented (re-registration under its own identity). */
  secret?: string;
  /** Native mode: the client whose site-issued certificate the TLS connection presented. */
  certificateClient?: ClientRow;
  /** Native mode: the client presented a certificate that the site CA issued. */
  certificateTrusted?: boolean;
  /**
   * `wusp`: a Windows Update Agent registering through MS-WUSP (src/windows/wusp/). It never sends
   * a CSR and authenticates with the sealed cookie the site issued it over TLS (server
   * authentication only, as with WSUS), so a native-mode site does not ask it for one.
   */
  channel?: 'agent' | 'wusp';
  source?: string;
}

export function statusOf(row: Pick<ClientRow, 'record_state' | 'approval'>): ClientStatus {
  return row.record_state === 'conflict' ? 'conflict' : row.approval;
}

/**
 * Registration, identity and duplicates (issue 5 items 2-5). All writes for one hardware ID are
 * serialized by a lock on that ID, so concurrent registrations end with exactly the records the
 * `duplicateHardwareId` policy says, on SQLite and PostgreSQL alike. Registrations arriving
 * together share one transaction and one commit (group commit, issue 16), each in a savepoint of
 * its own: one refused registration does not fail the others, and each is answered after the
 * commit that keeps it.
 */
export class RegistrationService {
  private readonly batches: GroupCommit;

  constructor(
    private readonly deps: {
      db: Db;
      config: SiteConfig;
      log: Logger;
      certificates: ClientCertificates;
    },
  ) {
    const sqlite = dbKind(deps.db) === 'sqlite';
    this.batches = new GroupCommit({
      db: deps.db,
      lock: lockHardwareIds,
      maxBatch: MAX_BATCH,
      // SQLite: one connection, one writer. PostgreSQL: two batches at once over the pool.
      concurrency: sqlite ? 1 : PG_BATCHES,
    });
  }

  async register(body: unknown, ctx: RegisterContext = {}): Promise<Registered> {
    const input = parseWith(registrationSchema, body, 'registration');
    checkCompatibility(this.deps.config.site, input);
    if (input.csr !== undefined) checkCsr(input.csr);
    const known =
      ctx.certificateClient ??
      (ctx.secret === undefined ? undefined : await authenticateSecret(this.deps.db, ctx.secret));
    if (known !== undefined && known.hardware_id === input.hardwareId)
      return this.batches.run(input.hardwareId, (trx) => this.refresh(trx, known, input, ctx));
    if (
      input.csr === undefined &&
      this.deps.config.site.mode === 'native' &&
      ctx.channel !== 'wusp'
    ) {
      throw new UpcatError(
        'invalid_input',
        'csr: a native-mode site registers clients with a certificate signing request',
      );
    }
    const clonedFrom = known?.client_id;
    const answer = await this.batches.run(input.hardwareId, (trx) =>
      this.fresh(trx, input, ctx, clonedFrom),
    );
    // Logged once committed: a batch may run a registration twice (group-commit.ts).
    if (clonedFrom !== undefined) {
      this.deps.log.warn(
        { clientId: clonedFrom, newClientId: answer.clientId },
        'client ID presented from another hardware ID',
      );
    }
    return answer;
  }

  /**
   * The client re-registers under its own ID (secret or certificate): not a conflict, facts
   * refreshed. A new request renews an approved client's certificate. Over mutual TLS without the
   * secret, a new secret is issued (the old one is not known here to hand back). Audited like a
   * registration: a new secret, a group joined or a certificate issued is a change of trust.
   * Runs in its batch's transaction, the hardware ID already locked.
   */
  private async refresh(
    trx: Knex.Transaction,
    known: ClientRow,
    input: RegistrationInput,
    ctx: RegisterContext,
  ): Promise<Registered> {
    const secret = ctx.secret;
    const fresh = secret === undefined ? issueSecret(known.client_id) : undefined;
    await trx('clients')
      .where({ client_id: known.client_id })
      .update({
        name: input.name,
        os: input.os,
        architecture: input.architecture,
        client_version: input.clientVersion,
        last_contact: now(),
        ...(fresh === undefined ? {} : { secret_hash: fresh.hash }),
        ...(input.csr === undefined ? {} : { csr_pem: input.csr }),
      });
    if (fresh !== undefined) noteChange(trx); // the old secret must stop working at once
    const joined = await joinHintGroup(trx, known.client_id, input.group);
    if (joined) await bumpEpoch(trx, [known.client_id]);
    const certificate =
      input.csr !== undefined && receivesPolicy(known)
        ? await this.deps.certificates.issue(trx, known.client_id, input.csr)
        : undefined;
    await audit(trx, {
      actor: `client:${known.client_id}`,
      action: 'client.reregister',
      target: known.client_id,
      detail: {
        hardwareId: input.hardwareId,
        status: statusOf(known),
        by: ctx.certificateClient === undefined ? 'secret' : 'certificate',
        newSecret: fresh !== undefined,
        joinedGroup: joined ? (input.group ?? null) : null,
        certificateSerial: certificate?.serial ?? null,
      },
      source: ctx.source,
    });
    return {
      clientId: known.client_id,
      secret: secret ?? fresh?.secret ?? '',
      status: statusOf(known),
      ...(certificate === undefined ? {} : { certificate: certificate.certificatePem }),
    };
  }

  /** A new record for the hardware ID; runs in its batch's transaction, the ID already locked. */
  private async fresh(
    trx: Knex.Transaction,
    input: RegistrationInput,
    ctx: RegisterContext,
    clonedFrom: string | undefined,
  ): Promise<Registered> {
    const { duplicateHardwareId, approval } = this.deps.config.site;
    const trusted =
      ctx.certificateTrusted === true ||
      ctx.certificateClient !== undefined ||
      (input.enrollmentToken !== undefined &&
        (await checkEnrollmentToken(trx, input.enrollmentToken)));
    const current = (await clientsByHardware(trx, input.hardwareId)).filter(
      (c) => c.record_state !== 'obsolete',
    );
    if (current.some((c) => c.blocked)) {
      throw new UpcatError(
        'client_blocked',
        `hardwareId: this machine is blocked by an administrator`,
      );
    }
    const clientId = randomUUID();
    const { conflictWith, replaced } = duplicateOutcome(duplicateHardwareId, current, trusted);
    if (replaced.length > 0) {
      // The newest registration of a machine wins; the old records stay, linked, for history.
      await trx('clients')
        .whereIn(
          'client_id',
          replaced.map((c) => c.client_id),
        )
        .update({ record_state: 'obsolete', replaced_by: clientId });
      noteChange(trx);
    }
    if (clonedFrom !== undefined) {
      await trx('clients').where({ client_id: clonedFrom }).update({ clone_suspected: true });
    }
    const approved =
      approval === 'auto-all' ||
      (approval === 'auto-trusted' && trusted && clonedFrom === undefined);
    const { secret, hash } = issueSecret(clientId);
    const row = {
      client_id: clientId,
      hardware_id: input.hardwareId,
      name: input.name,
      os: input.os,
      architecture: input.architecture,
      client_version: input.clientVersion,
      secret_hash: hash,
      approval: approved ? 'approved' : 'pending',
      blocked: false,
      record_state: conflictWith === undefined ? 'active' : 'conflict',
      replaced_by: null,
      created_at: now(),
      last_contact: now(),
      trusted,
      conflict_with: conflictWith ?? null,
      cloned_from: clonedFrom ?? null,
      clone_suspected: clonedFrom !== undefined,
      csr_pem: input.csr ?? null,
    } as const;
    await trx('clients').insert(row);
    await joinHintGroup(trx, clientId, input.group);
    // Approved at once (issue 5 item 6): the certificate rides in this answer.
    const certificate =
      input.csr !== undefined && approved && row.record_state === 'active'
        ? await this.deps.certificates.issue(trx, clientId, input.csr)
        : undefined;
    await audit(trx, {
      actor: `client:${clientId}`,
      action: 'client.register',
      target: clientId,
      detail: {
        hardwareId: input.hardwareId,
        status: statusOf(row),
        replaced: replaced.map((c) => c.client_id),
        conflictWith,
        clonedFrom,
      },
      source: ctx.source,
    });
    return {
      clientId,
      secret,
      status: statusOf(row),
      ...(certificate === undefined ? {} : { certificate: certificate.certificatePem }),
    };
  }
}

/** Registrations in one transaction at most: at ~0.3 ms each, it holds SQLite's writer ~30 ms. */
const MAX_BATCH = 100;
/**
 * PostgreSQL batches in flight at once. Measured in process (64 callers, load 12): one batch at a
 * time waits on each statement's round trip, four split the arrivals into batches of one or two
 * (4.7 statements per registration); two gave the best rate and CPU per registration.
 */
const PG_BATCHES = 2;

/**
 * The hardware-ID locks of a batch (lockKey's, for many IDs at once). PostgreSQL: the same
 * advisory locks lockKey takes (`upcat:<hardware ID>`), in hash order, in one statement, so two
 * batches holding some of the same IDs wait for each other instead of deadlocking. SQLite: one
 * write makes the transaction the database's only writer, which locks every ID.
 */
async function lockHardwareIds(
  trx: Knex.Transaction,
  hardwareIds: readonly string[],
): Promise<void> {
  if (dbKind(trx) === 'sqlite') return lockKey(trx, hardwareIds[0] ?? '');
  await trx.raw(
    `select pg_advisory_xact_lock(h) from
       (select distinct hashtext('upcat:' || k) as h from unnest(?::text[]) as t(k)) s
     order by h`,
    [[...hardwareIds]],
  );
}

/**
 * What a new registration of a hardware ID that live records (`current`) already have does to
 * them (issue 13 item 4). `manual`: it waits as a conflict with the active record. `auto`: it
 * replaces them, unless one of them is an approved machine in use and the registration does not
 * prove it is that machine (an enrollment token or a site-issued certificate; its own secret is a
 * re-registration, not this path). Then it waits as a conflict and the machine keeps working: an
 * anonymous registration that knows a hardware ID must not knock an approved machine off policy.
 */
export function duplicateOutcome(
  policy: 'auto' | 'manual',
  current: readonly ClientRow[],
  proven: boolean,
): { conflictWith: string | undefined; replaced: readonly ClientRow[] } {
  const active = current.filter((c) => c.record_state === 'active');
  if (policy === 'manual') return { conflictWith: active[0]?.client_id, replaced: [] };
  const inUse = active.find(receivesPolicy);
  if (inUse !== undefined && !proven) return { conflictWith: inUse.client_id, replaced: [] };
  return { conflictWith: undefined, replaced: current };
}

/**
 * Client-side targeting: the hint names a group and the client joins it. A hint naming no group
 * (or a builtin one, which membership does not decide) is ignored, as WSUS does. True if joined.
 */
async function joinHintGroup(q: Q, clientId: string, group: string | undefined): Promise<boolean> {
  if (group === undefined || group === ALL_COMPUTERS || group === UNASSIGNED) return false;
  const groupId = await groupIdByName(q, group);
  if (groupId === undefined) return false;
  const row = { client_id: clientId, group_id: groupId };
  if ((await q('client_groups').where(row).first('client_id')) !== undefined) return false;
  await q('client_groups').insert(row).onConflict(['client_id', 'group_id']).ignore();
  return true;
}
