import { z } from 'zod';
import { registrationSchema } from '../../site/registration.js';
import { fallbackSchema, statusSchema } from '../../site/state-messages.js';
import { CLIENT_AUTH, errors, isoTime, json, jsonBody, type Registry } from './registry.js';

/**
 * What endpoints call (routes/clients.ts, routes/sync.ts, routes/status.ts; issue 5): register,
 * read their certificate, sync their signed policy, report state messages, and the
 * unauthenticated fallback status point.
 */

const Registration = registrationSchema.meta({ id: 'Registration' });
const StatusMessages = statusSchema.meta({ id: 'StatusMessages' });
const FallbackStatus = fallbackSchema.meta({ id: 'FallbackStatus' });

const Registered = z.object({
  clientId: z.string(),
  secret: z.string().describe('the client secret; shown in this answer only'),
  status: z.enum(['approved', 'pending', 'conflict']),
  certificate: z
    .string()
    .optional()
    .describe('native mode: the client certificate (PEM), when approval issued it'),
});

const Stored = z.object({
  received: z.number().int(),
  stored: z.number().int().describe('messages not seen before (a resent message is stored once)'),
});

/** The hardware the agent runs on; another than the record's flags a suspected clone. */
const hardwareHeader = z.object({
  'Upcat-Hardware-Id': z
    .string()
    .regex(/^[\x20-\x7e]{1,128}$/)
    .optional()
    .describe("the agent's hardware ID; if not the record's, the record is flagged cloneSuspected"),
});

export function registerEndpoints(registry: Registry): void {
  registry.registerPath({
    method: 'post',
    path: '/v1/clients',
    operationId: 'register',
    summary: 'register a client (a client secret re-registers the same record)',
    tags: ['endpoints'],
    request: { body: jsonBody(Registration) },
    responses: {
      '201': { description: 'the client ID, secret and status', content: json(Registered) },
      ...errors('400', '401', '403', '409'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/clients/{clientId}/certificate',
    operationId: 'clientCertificate',
    summary: "the client's current certificate (native mode)",
    tags: ['endpoints'],
    security: CLIENT_AUTH,
    request: {
      params: z.object({ clientId: z.string().min(1).max(64).describe('the client (its own)') }),
    },
    responses: {
      '200': {
        description: 'the certificate',
        content: json(
          z.object({
            clientId: z.string(),
            serial: z.string(),
            notAfter: isoTime,
            certificate: z.string().describe('PEM'),
          }),
        ),
      },
      ...errors('401', '403', '404'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/sync',
    operationId: 'sync',
    summary: "the client's signed policy since its anchor",
    tags: ['endpoints'],
    security: CLIENT_AUTH,
    request: {
      query: z.object({
        anchor: z.string().optional().describe('the anchor of the last answer'),
      }),
      headers: hardwareHeader,
    },
    responses: {
      '200': {
        description: 'signed policy and a new anchor (docs/PROTOCOL.md "Sync")',
        content: json(z.record(z.string(), z.unknown())),
      },
      '304': {
        description: 'nothing new',
        headers: z.object({
          'X-Upcat-Anchor': z.string().optional().describe('a fresher anchor, when there is one'),
        }),
      },
      ...errors('401', '403'),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/status',
    operationId: 'status',
    summary: 'state messages from a registered client',
    tags: ['endpoints'],
    security: CLIENT_AUTH,
    request: { headers: hardwareHeader, body: jsonBody(StatusMessages) },
    responses: {
      '202': { description: 'accepted (each message stored once)', content: json(Stored) },
      ...errors('400', '401', '403', '408', '413'),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/fsp/v1/status',
    operationId: 'fallbackStatus',
    summary: 'fallback status point: unauthenticated, rate-limited, size-limited',
    tags: ['endpoints'],
    request: { body: jsonBody(FallbackStatus) },
    responses: {
      '202': { description: 'accepted', content: json(Stored) },
      ...errors('400', '413', '429'),
    },
  });
}
