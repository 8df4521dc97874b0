import type { ClientAdminService, ClientView } from './client-admin.js';
import type { HistoryEntry, ReportService } from './reports.js';

/** How many state messages a client's detail carries: the recent ones (the report has more). */
export const DETAIL_HISTORY = 50;

/** `GET /v1/clients/:clientId` and `upcat clients show`: the record and its recent history. */
export interface ClientDetail {
  client: ClientView;
  history: HistoryEntry[];
}

export async function clientDetail(
  services: {
    clients: Pick<ClientAdminService, 'get'>;
    reports: Pick<ReportService, 'clientHistory'>;
  },
  ref: string,
  historyLimit: number = DETAIL_HISTORY,
): Promise<ClientDetail> {
  const client = await services.clients.get(ref);
  return { client, history: await services.reports.clientHistory(client.clientId, historyLimit) };
}
