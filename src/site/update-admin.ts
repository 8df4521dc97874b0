import type { Logger } from 'pino';
import type { Db } from '../storage/db.js';
import type { Page } from '../server/paging.js';
import { DeclineService, type DeclineResult } from '../publish/decline-service.js';
import type { TufPublisher } from '../publish/tuf-publisher.js';
import { parseUpdateFilters } from './update-filters.js';
import { listUpdates, resolveUpdateId, type UpdateSummary } from './update-query.js';
import { updateDetail, type UpdateDetail } from './update-detail.js';

/**
 * The updates of the admin API (issue 14 items 1 and 3): the one service that
 * `GET /v1/updates...`, `POST /v1/updates/:id/decline|undecline` and `upcat updates` call.
 * Every update ID it takes may be a unique prefix (update-query.ts `resolveUpdateId`).
 */
export class UpdateAdminService {
  private readonly declines: DeclineService;

  constructor(private readonly deps: { db: Db; log: Logger; tuf: TufPublisher | undefined }) {
    this.declines = new DeclineService(deps);
  }

  /** One page of updates; `query` is the list's query string (update-filters.ts). */
  async list(query: Readonly<Record<string, unknown>>): Promise<Page<UpdateSummary>> {
    return listUpdates(this.deps.db, parseUpdateFilters(query));
  }

  async show(updateId: string): Promise<UpdateDetail> {
    return updateDetail(this.deps.db, await resolveUpdateId(this.deps.db, updateId));
  }

  async decline(updateId: string, actor: string): Promise<DeclineResult> {
    return this.declines.decline(await resolveUpdateId(this.deps.db, updateId), actor);
  }

  async undecline(updateId: string, actor: string): Promise<DeclineResult> {
    return this.declines.undecline(await resolveUpdateId(this.deps.db, updateId), actor);
  }
}
