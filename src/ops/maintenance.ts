import type { Site } from '../app.js';
import { UpcatError } from '../errors.js';
import { audit } from '../storage/catalog-repo.js';
import { collectObsoleteClients } from './gc/clients.js';
import type { Freed } from './gc/freed.js';
import { collectPayloads } from './gc/payloads.js';
import { rollUpStateMessages, type RolledUp } from './gc/state-messages.js';
import { collectTemporary } from './gc/temp-files.js';
import { collectMetadata } from './gc/tuf-metadata.js';
import { Lease } from './lease.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** The lease outlives a normal run by far; a node that dies frees it within this time. */
const LEASE_MS = 30 * 60 * 1000;

export interface GcReport {
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  tufMetadata: Freed;
  unreferencedPayloads: Freed;
  retiredPayloads: Freed;
  temporaryFiles: Freed;
  stateMessages: RolledUp;
  obsoleteClients: number;
  /** Total bytes freed (or that a dry run would free). */
  bytes: number;
}

export interface GcOptions {
  dryRun?: boolean;
  now?: () => Date;
}

/**
 * One maintenance run (issue 13 item 3), the same for `upcat gc` and the timer in `upcat serve`.
 * Each step removes only what nothing current needs and is safe to kill at any point: files go
 * one unlink at a time (never one a current TUF version, a live revision or a download within
 * its grace needs), database changes in small transactions. Held under the `maintenance` lease
 * so that one node at a time runs it. Answers undefined when another holder has the lease.
 */
export async function runMaintenance(
  site: Site,
  options: GcOptions = {},
): Promise<GcReport | undefined> {
  const lease = new Lease(site.db, 'maintenance', LEASE_MS);
  if (!(await lease.acquire())) return undefined;
  try {
    return await collect(site, lease, options);
  } finally {
    await lease.release();
  }
}

/** `upcat gc`: the same, failing with a clear message when another node holds the lease. */
export async function runGc(site: Site, options: GcOptions = {}): Promise<GcReport> {
  const report = await runMaintenance(site, options);
  if (report !== undefined) return report;
  const holder = await new Lease(site.db, 'maintenance', LEASE_MS).holder();
  throw new UpcatError(
    'conflict',
    `maintenance is running elsewhere (${holder?.owner ?? 'another process'}, lease until ${holder?.expiresAt ?? '?'}); try again later`,
  );
}

async function collect(site: Site, lease: Lease, options: GcOptions): Promise<GcReport> {
  const dryRun = options.dryRun === true;
  const clock = options.now ?? (() => new Date());
  const started = clock();
  const now = started.getTime();
  const { config } = site;
  const graceMs = config.maintenance.graceMinutes * 60_000;
  const before = (days: number): string => new Date(now - days * DAY_MS).toISOString();
  const renew = async (): Promise<void> => {
    if (!(await lease.acquire(clock())))
      throw new UpcatError('conflict', 'the maintenance lease was lost');
  };

  const tufMetadata = await collectMetadata(site.metadata, graceMs, now, dryRun);
  await renew();
  const payloads = await collectPayloads(site.db, site.blobs, {
    cutoffIso: before(config.retention.payloadDays),
    graceMs,
    now,
    dryRun,
  });
  await renew();
  const temporaryFiles = await collectTemporary(config.dirs, site.blobs, graceMs, now, dryRun);
  await renew();
  const stateMessages = await rollUpStateMessages(
    site.db,
    before(config.retention.stateMessageDays),
    dryRun,
  );
  await renew();
  const obsoleteClients = await collectObsoleteClients(
    site.db,
    before(config.retention.obsoleteClientDays),
    started.toISOString(),
    dryRun,
  );
  const report: GcReport = {
    dryRun,
    startedAt: started.toISOString(),
    finishedAt: clock().toISOString(),
    tufMetadata,
    unreferencedPayloads: payloads.unreferenced,
    retiredPayloads: payloads.retired,
    temporaryFiles,
    stateMessages,
    obsoleteClients,
    bytes:
      tufMetadata.bytes +
      payloads.unreferenced.bytes +
      payloads.retired.bytes +
      temporaryFiles.bytes,
  };
  if (!dryRun) {
    await audit(site.db, { actor: 'maintenance', action: 'gc', detail: report });
  }
  return report;
}

/**
 * The maintenance timer of `upcat serve`: every `maintenance.intervalHours`, on whichever node
 * takes the lease first (the others skip that round). The first run waits one interval, so a
 * restarting node does not hit the disk at start-up.
 */
export function startMaintenance(site: Site): { stop(): void } {
  const hours = site.config.maintenance.intervalHours;
  if (hours === 0) return { stop: () => undefined };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    runMaintenance(site)
      .then((report) => {
        if (report === undefined) site.log.info('maintenance: another node holds the lease');
        else site.log.info({ gc: report }, `maintenance freed ${report.bytes} bytes`);
      })
      .catch((err: unknown) => site.log.error({ err }, 'maintenance failed'))
      .finally(() => (running = false));
  }, hours * 3_600_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
