import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Updater } from 'tuf-js';
import { revisionFromXml, type RevisionDocument } from '../catalog/update-xml.js';
import { isUpcatError, UpcatError } from '../errors.js';
import { applicability, type Tri } from '../rules/index.js';
import { requestFor, type InventoryProvider } from './inventory/index.js';
import { checkAgreement } from './agreement.js';
import { verifyPayloadSignature } from './ca.js';
import { TamperedResponseError, downloadPayload, isTampered } from './download.js';
import { runHandler } from './handler.js';
import type { Outbox } from './outbox.js';
import { orderByPrerequisites } from './plan.js';
import { AGENT_PRODUCT, prepareVersionDir, switchCurrent } from './self-upgrade.js';
import { isUnreachable, type SiteClient } from './site-client.js';
import type { AgentPolicyEntry, AgentState } from './state.js';
import { ensurePrivateDir } from './state-dir.js';
import { readTarget } from './tuf-client.js';
import { nextOpening, windowOpen } from '../site/maintenance-window.js';

export interface UpdateResult {
  updateId: string;
  revision: number;
  title?: string;
  /** A state message state, or `waiting` / `retry_later` / `interrupted` (nothing sent). */
  state: string;
  code?: number;
  detail?: string;
}

export interface ApplyContext {
  site: SiteClient;
  state: AgentState;
  outbox: Outbox;
  updater: Updater;
  provider: InventoryProvider;
  properties: Record<string, string>;
  stateDir: string;
  caCert: string | undefined;
  installOptional: boolean;
  handlerTimeoutMs: number;
  clientName: string;
  save: () => Promise<void>;
  log: Logger;
  now?: Date;
}

interface Work {
  entry: AgentPolicyEntry;
  doc: RevisionDocument;
  updateId: string;
  prerequisites: string[][];
}

const BACKOFF_BASE_MS = 5 * 60 * 1000;
const BACKOFF_MAX_MS = 24 * 60 * 60 * 1000;

/**
 * Decides and carries out the policy (issue 6 item 2): which deployments need work, whether the
 * signed catalog agrees with the policy, what the rules say on this machine, in which order, then
 * download, verify and run each. Every step sends a state message.
 */
export async function applyPolicy(ctx: ApplyContext): Promise<UpdateResult[]> {
  const now = ctx.now ?? new Date();
  const results: UpdateResult[] = [];
  const candidates: AgentPolicyEntry[] = [];
  for (const entry of ctx.state.policy) {
    const held = ctx.state.installed[entry.updateId];
    if (entry.action !== 'uninstall' && held?.revision === entry.revision) continue;
    if (entry.action === 'optional' && !ctx.installOptional && !pastDeadline(entry, now)) {
      results.push(result(entry, 'waiting', 'optional: install with --install-optional'));
      continue;
    }
    const closed = outsideWindow(entry, now);
    if (closed !== undefined) {
      results.push(result(entry, 'waiting', closed));
      continue;
    }
    const failed = ctx.state.failures[entry.updateId];
    if (failed?.revision === entry.revision && Date.parse(failed.retryAfter) > now.getTime()) {
      results.push(
        result(
          entry,
          'retry_later',
          `failed ${failed.attempts} time(s); next attempt after ${failed.retryAfter}`,
        ),
      );
      continue;
    }
    candidates.push(entry);
  }
  if (candidates.length === 0) return results;

  const works: Work[] = [];
  for (const entry of candidates) {
    try {
      const bytes = await readTarget(ctx.updater, `updates/${entry.updateId}.xml`);
      if (bytes === undefined)
        throw new UpcatError(
          'integrity',
          `update ${entry.updateId} is in the policy but not in the signed catalog`,
        );
      const doc = revisionFromXml(bytes.toString('utf8'));
      await checkAgreement(ctx.updater, entry, doc);
      works.push({ entry, doc, updateId: entry.updateId, prerequisites: doc.prerequisites });
    } catch (err) {
      if (isUnreachable(err)) throw err;
      results.push(
        isTampered(err)
          ? await rejected(ctx, entry, err)
          : await fail(ctx, entry, err, undefined, now),
      );
    }
  }
  const inventory = await ctx.provider.collect(
    requestFor(works.flatMap((w) => [w.doc.isInstalled, w.doc.isInstallable])),
  );

  const installs: Work[] = [];
  const planned = new Set(
    works.filter((w) => w.entry.action !== 'uninstall').map((w) => w.updateId),
  );
  const isInstalled = (id: string): Tri => ctx.state.installed[id] !== undefined || planned.has(id);
  for (const w of works) {
    const a = applicability(w.doc, inventory, isInstalled);
    if (w.entry.action === 'uninstall') {
      if (ctx.state.installed[w.updateId] !== undefined || a.isInstalled.value === true)
        installs.push(w);
      continue;
    }
    if (a.isInstalled.value === true) {
      results.push(
        await final(
          ctx,
          w,
          'already_installed',
          undefined,
          'already installed (IsInstalled is true)',
        ),
      );
      markInstalled(ctx.state, w, false);
    } else if (!a.applicable) {
      results.push(await final(ctx, w, 'not_applicable', undefined, a.why.reason));
    } else {
      installs.push(w);
    }
  }
  await ctx.save();

  const { order, cycles } = orderByPrerequisites(installs);
  for (const { item, cycle } of cycles) {
    results.push(
      await fail(
        ctx,
        item.entry,
        new UpcatError('invalid_input', `prerequisite cycle: ${cycle.join(' -> ')}`),
        item.doc,
        now,
      ),
    );
  }
  for (const w of order) {
    const missing = w.entry.action === 'uninstall' ? undefined : missingPrerequisite(w, ctx.state);
    if (missing !== undefined) {
      results.push(
        await fail(
          ctx,
          w.entry,
          new UpcatError('invalid_input', `prerequisite ${missing} is not installed`),
          w.doc,
          now,
        ),
      );
      continue;
    }
    try {
      results.push(await carryOut(ctx, w, now));
    } catch (err) {
      if (isUnreachable(err)) {
        results.push(result(w.entry, 'interrupted', (err as Error).message));
        throw err;
      }
      results.push(
        isTampered(err)
          ? await rejected(ctx, w.entry, err, w.doc)
          : await fail(ctx, w.entry, err, w.doc, now),
      );
    }
    await ctx.save();
  }
  return results;
}

function missingPrerequisite(w: Work, state: AgentState): string | undefined {
  for (const group of w.prerequisites) {
    if (!group.some((id) => state.installed[id] !== undefined)) return group.join(' or ');
  }
  return undefined;
}

async function carryOut(ctx: ApplyContext, w: Work, now: Date): Promise<UpdateResult> {
  const file = w.doc.files[0];
  if (file === undefined) throw new UpcatError('integrity', `update ${w.updateId} has no payload`);
  const downloads = path.join(ctx.stateDir, 'downloads');
  await ensurePrivateDir(downloads);
  const operation = w.entry.action === 'uninstall' ? 'uninstall' : 'install';
  await message(ctx, w, 'downloading');
  const got = await downloadPayload(
    ctx.site,
    { sha256: file.sha256, length: file.size },
    downloads,
  );
  await verifyPayloadSignature(ctx.site, ctx.stateDir, ctx.caCert, file.sha256).catch(
    (err: unknown) => {
      // The payload matched the signed catalog; its detached signature did not: the signature
      // response is what was wrong (or forged), so it is retried, not backed off.
      if (isUnreachable(err)) throw err;
      throw new TamperedResponseError(
        `payload ${file.sha256}: signature refused: ${(err as Error).message}`,
        { cause: err },
      );
    },
  );
  await message(
    ctx,
    w,
    'downloaded',
    undefined,
    got.resumedFrom > 0 ? `resumed at byte ${got.resumedFrom}` : undefined,
  );

  const isAgent = w.doc.product === AGENT_PRODUCT && operation === 'install';
  const workDir = isAgent
    ? await prepareVersionDir(ctx.stateDir, w.doc.version)
    : path.join(ctx.stateDir, 'work', `${w.updateId}-${randomBytes(4).toString('hex')}`);
  if (!isAgent) {
    await ensurePrivateDir(path.join(ctx.stateDir, 'work'));
    await ensurePrivateDir(workDir);
  }
  await message(ctx, w, 'installing');
  let keep = false;
  try {
    const run = await runHandler({
      handler: w.doc.handler,
      operation,
      payload: { file: got.file, name: file.name, kind: file.kind },
      workDir,
      stateDir: ctx.stateDir,
      properties: ctx.properties,
      timeoutMs: ctx.handlerTimeoutMs,
      env: {
        UPCAT_UPDATE_ID: w.updateId,
        UPCAT_REVISION: String(w.entry.revision),
        UPCAT_VERSION: w.doc.version,
        UPCAT_CLIENT_NAME: ctx.clientName,
      },
    });
    if (run.outcome.result !== 'Succeeded') {
      return await fail(
        ctx,
        w.entry,
        new UpcatError('internal', run.detail),
        w.doc,
        now,
        run.code ?? undefined,
      );
    }
    delete ctx.state.failures[w.updateId];
    if (operation === 'uninstall') {
      delete ctx.state.installed[w.updateId];
      return await final(ctx, w, 'uninstalled', run.code ?? undefined, run.detail);
    }
    markInstalled(ctx.state, w, run.outcome.reboot);
    if (isAgent) {
      await switchCurrent(ctx.stateDir, w.doc.version);
      keep = true;
    }
    const done = await final(ctx, w, 'installed', run.code ?? undefined, run.detail);
    if (run.outcome.reboot) {
      await message(ctx, w, 'reboot_pending', run.code ?? undefined);
      return { ...done, state: 'reboot_pending' };
    }
    return done;
  } finally {
    if (!keep) await rm(workDir, { recursive: true, force: true });
  }
}

function markInstalled(state: AgentState, w: Work, reboot: boolean): void {
  state.installed[w.updateId] = {
    revision: w.entry.revision,
    product: w.doc.product,
    version: w.doc.version,
    at: new Date().toISOString(),
    rebootPending: reboot,
  };
}

/**
 * Why an `install` entry waits for a maintenance window (issue 14 item 6), or undefined when it
 * may go ahead: no windows, one is open now, or the deadline has come (then it installs anyway).
 */
function outsideWindow(entry: AgentPolicyEntry, now: Date): string | undefined {
  const windows = entry.maintenanceWindows ?? [];
  if (entry.action !== 'install' || windows.length === 0) return undefined;
  if (pastDeadline(entry, now) || windowOpen(windows, now)) return undefined;
  const next = nextOpening(windows, now);
  return `maintenance window: closed; next opens ${next?.toISOString() ?? 'never'}${
    entry.deadline === null ? '' : `; installs at the deadline ${entry.deadline} regardless`
  }`;
}

function pastDeadline(entry: AgentPolicyEntry, now: Date): boolean {
  return entry.deadline !== null && Date.parse(entry.deadline) <= now.getTime();
}

function result(
  entry: AgentPolicyEntry,
  state: string,
  detail?: string,
  title?: string,
): UpdateResult {
  return {
    updateId: entry.updateId,
    revision: entry.revision,
    ...(title === undefined ? {} : { title }),
    state,
    ...(detail === undefined ? {} : { detail }),
  };
}

async function message(
  ctx: ApplyContext,
  w: { updateId: string; entry: { revision: number } },
  state: string,
  code?: number,
  detail?: string,
): Promise<void> {
  await ctx.outbox.add({
    topic: 'update',
    updateId: w.updateId,
    revision: w.entry.revision,
    state,
    ...(code === undefined ? {} : { code }),
    ...(detail === undefined ? {} : { detail }),
  });
  ctx.state.history.push({
    time: new Date().toISOString(),
    updateId: w.updateId,
    revision: w.entry.revision,
    state,
    ...(code === undefined ? {} : { code }),
    ...(detail === undefined ? {} : { detail }),
  });
}

/** A final state, sent once per revision (a cycle that finds nothing new sends nothing). */
async function final(
  ctx: ApplyContext,
  w: Work,
  state: string,
  code?: number,
  detail?: string,
): Promise<UpdateResult> {
  const key = `${w.entry.revision}:${state}`;
  if (ctx.state.reported[w.updateId] !== key) {
    await message(ctx, w, state, code, detail);
    ctx.state.reported[w.updateId] = key;
  }
  recordOutcome(ctx.state, w.updateId, w.entry.revision, state, detail);
  return {
    ...result(w.entry, state, detail, w.doc.title),
    ...(code === undefined ? {} : { code }),
  };
}

/** The final state per update for `upcat agent status`; `at` moves only when it changes. */
function recordOutcome(
  state: AgentState,
  updateId: string,
  revision: number,
  final: string,
  detail: string | undefined,
): void {
  const prior = state.outcomes[updateId];
  const same = prior?.revision === revision && prior.state === final;
  state.outcomes[updateId] = {
    revision,
    state: final,
    at: same ? prior.at : new Date().toISOString(),
    ...(detail === undefined ? {} : { detail: detail.slice(0, 1024) }),
  };
}

/**
 * A response that was not what the signed catalog says (download.ts TamperedResponseError): the
 * update is not at fault, so no failure is recorded and nothing backs off; the next cycle tries
 * again. It is reported (`download_rejected`, not a final state: no report or promotion counts
 * it as a failure of the update) and logged, so an operator sees who is being tampered with.
 */
async function rejected(
  ctx: ApplyContext,
  entry: AgentPolicyEntry,
  err: unknown,
  doc?: RevisionDocument,
): Promise<UpdateResult> {
  const detail = err instanceof Error ? err.message : String(err);
  ctx.log.warn({ updateId: entry.updateId, code: 'integrity' }, detail);
  await message(ctx, { updateId: entry.updateId, entry }, 'download_rejected', undefined, detail);
  return result(entry, 'download_rejected', detail, doc?.title);
}

async function fail(
  ctx: ApplyContext,
  entry: AgentPolicyEntry,
  err: unknown,
  doc: RevisionDocument | undefined,
  now: Date,
  code?: number,
): Promise<UpdateResult> {
  const detail = err instanceof Error ? err.message : String(err);
  const prior = ctx.state.failures[entry.updateId];
  const attempts = prior?.revision === entry.revision ? prior.attempts + 1 : 1;
  const wait = Math.min(BACKOFF_BASE_MS * 2 ** (attempts - 1), BACKOFF_MAX_MS);
  ctx.state.failures[entry.updateId] = {
    revision: entry.revision,
    attempts,
    retryAfter: new Date(now.getTime() + wait).toISOString(),
    code: code ?? null,
    detail: detail.slice(0, 1024),
  };
  ctx.log.warn(
    { updateId: entry.updateId, code: isUpcatError(err) ? err.code : undefined },
    detail,
  );
  await message(ctx, { updateId: entry.updateId, entry }, 'failed', code, detail);
  ctx.state.reported[entry.updateId] = `${entry.revision}:failed`;
  recordOutcome(ctx.state, entry.updateId, entry.revision, 'failed', detail);
  return {
    ...result(entry, 'failed', detail, doc?.title),
    ...(code === undefined ? {} : { code }),
  };
}
