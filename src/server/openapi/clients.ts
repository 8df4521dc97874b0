import { z } from 'zod';
import { resolutionSchema } from '../../site/client-admin.js';
import { querySchema as clientQuerySchema } from '../../site/client-list.js';
import {
  error,
  errors,
  etagged,
  isoTime,
  json,
  jsonBody,
  pagedList,
  pageQuery,
  token,
  type Registry,
} from './registry.js';

/**
 * Client records in the admin API (routes/client-admin.ts; issue 14 item 1): the filtered list,
 * one client's detail, and the changes an operator makes. What endpoints themselves call is in
 * endpoints.ts.
 */

export const Client = z
  .object({
    clientId: z.string(),
    hardwareId: z.string(),
    name: z.string(),
    os: z.string(),
    architecture: z.string(),
    clientVersion: z.string(),
    status: z.enum(['approved', 'pending', 'conflict']),
    approval: z.enum(['approved', 'pending']),
    recordState: z.enum(['active', 'conflict', 'obsolete']),
    blocked: z.boolean(),
    trusted: z.boolean(),
    groups: z.array(z.string()),
    replacedBy: z.string().nullable(),
    conflictWith: z.string().nullable(),
    clonedFrom: z.string().nullable(),
    cloneSuspected: z.boolean(),
    createdAt: isoTime,
    lastContact: isoTime.nullable(),
    channel: z.enum(['agent', 'wusp']).describe("upcat's agent, or the Windows Update Agent"),
  })
  .meta({ id: 'Client' });

/** One state message of a client (site/reports.ts HistoryEntry), newest first. */
export const HistoryEntry = z
  .object({
    messageId: z.string(),
    topic: z.string(),
    updateId: z.string().nullable(),
    revision: z.number().int().nullable(),
    state: z.string(),
    code: z.number().int().nullable(),
    detail: z.string().nullable(),
    sentAt: isoTime.nullable(),
    receivedAt: isoTime,
  })
  .meta({ id: 'HistoryEntry' });

/** `:clientId` of the admin routes: an ID, a unique prefix of it, or the client's name. */
export const clientRef = z.object({
  clientId: z.string().min(1).max(255).describe('the client: ID, unique ID prefix or name'),
});

/** The list's filters as site/client-list.ts validates them, with the paging parameters. */
const listQuery = clientQuerySchema.extend(pageQuery.shape);

export function registerClients(registry: Registry): void {
  registry.registerPath(
    pagedList({
      path: '/v1/clients',
      operationId: 'listClients',
      summary: 'client records, filtered, in creation order (keyset pages, ETag)',
      description:
        'status: approved or pending (active records), conflict, obsolete; state: the record state; group: members of this group; blocked, conflict: true or false; staleDays: active records not seen for this many days; channel: agent (or native) or wusp; search: part of the name (any case), or the start of the client or hardware ID.',
      tag: 'clients',
      scope: 'read',
      query: listQuery,
      key: 'clients',
      item: Client,
    }),
  );
  registry.registerPath({
    method: 'get',
    path: '/v1/clients/{clientId}',
    operationId: 'showClient',
    summary: 'a client record and its recent state messages (newest first, at most 50)',
    tags: ['clients'],
    security: token('read'),
    request: { params: clientRef },
    responses: {
      ...etagged('the client', z.object({ client: Client, history: z.array(HistoryEntry) })),
      '400': error('invalid_input: not an ID, or an ambiguous prefix or name'),
      ...errors('401', '403', '404'),
    },
  });
  for (const change of ['approve', 'block', 'unblock', 'resolve'] as const) {
    registry.registerPath({
      method: 'post',
      path: `/v1/clients/{clientId}/${change}`,
      operationId: `client${change[0]?.toUpperCase() ?? ''}${change.slice(1)}`,
      summary:
        change === 'resolve'
          ? 'resolve an identity conflict: merge, new or block'
          : `${change} a client`,
      tags: ['clients'],
      security: token('approve'),
      request: {
        params: clientRef,
        ...(change === 'resolve' ? { body: jsonBody(resolutionSchema) } : {}),
      },
      responses: {
        '200': { description: 'the client record', content: json(Client) },
        ...errors('400', '401', '403', '404', '409'),
      },
    });
  }
}
