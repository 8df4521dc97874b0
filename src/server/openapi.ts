import type { Router } from 'express';
import { z } from 'zod';
import { manifestSchema } from '../catalog/manifest.js';
import { deploymentChangeSchema, deploymentSchema } from '../site/deployments.js';
import { promotionSchema } from '../site/promote.js';
import { registrationSchema } from '../site/registration.js';
import { fallbackSchema, statusSchema } from '../site/state-messages.js';
import { SITE_VERSION } from '../version.js';
import { SESSION_COOKIE_SCHEME, sessionPaths } from './openapi-sessions.js';
import { listUpdatesOperation, updateAdminPaths, updateAdminSchemas } from './openapi-updates.js';

/**
 * The OpenAPI 3.1 description of the whole HTTP API (issue 7), served at `GET /v1/openapi.json`.
 * Request bodies that a zod schema validates are converted from that schema, so the document
 * cannot drift from what the server accepts; test/integration/openapi.test.ts checks that every
 * registered route is described and every described path is served.
 */

/** The subset of OpenAPI 3.1 this document uses. */
export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  tags: Array<{ name: string; description: string }>;
  paths: Record<string, PathItem>;
  components: {
    securitySchemes: Record<string, SecurityScheme>;
    schemas: Record<string, JsonSchema>;
  };
}

export type HttpMethod = 'get' | 'head' | 'post' | 'patch' | 'delete';
export type PathItem = Partial<Record<HttpMethod, Operation>> & { parameters?: Parameter[] };

export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: Parameter[];
  requestBody?: {
    required: boolean;
    content: Record<string, { schema: JsonSchema; encoding?: Record<string, unknown> }>;
  };
  responses: Record<string, ResponseObject>;
}

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: JsonSchema;
}

export interface ResponseObject {
  description: string;
  headers?: Record<string, { description: string; schema: JsonSchema }>;
  content?: Record<string, { schema: JsonSchema }>;
}

export type SecurityScheme =
  | { type: 'http'; scheme: 'bearer'; description: string }
  | { type: 'mutualTLS'; description: string }
  | { type: 'apiKey'; in: 'cookie'; name: string; description: string };

/** A JSON Schema (2020-12, as OpenAPI 3.1 uses). */
export type JsonSchema = { [key: string]: unknown };

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema): Record<string, { schema: JsonSchema }> => ({
  'application/json': { schema },
});
const object = (properties: Record<string, JsonSchema>, required?: string[]): JsonSchema => ({
  type: 'object',
  properties,
  ...(required === undefined ? {} : { required }),
});
const str: JsonSchema = { type: 'string' };
const int: JsonSchema = { type: 'integer' };
const nullable = (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: 'null' }] });
const arrayOf = (items: JsonSchema): JsonSchema => ({ type: 'array', items });

function fromZod(schema: z.ZodType): JsonSchema {
  const out = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete out['$schema'];
  return out;
}

const ERRORS: Record<string, string> = {
  '400': 'invalid_input: the message names the field',
  '401':
    'unauthorized: no credentials, or unknown, expired or revoked ones; client_replaced: a newer registration of the machine replaced this record (register again)',
  '408':
    'request_timeout: the body did not arrive in time (server.bodyTimeoutMs, server.minBodyBytesPerSecond)',
  '403':
    'forbidden (wrong token scope), client_blocked, or certificate_required (native mode: a secret on sync or status)',
  '404': 'not_found',
  '409': 'conflict: the request contradicts what is stored',
  '413': 'too_large',
  '416': 'range_not_satisfiable: the Range lies outside the file',
  '429': 'rate_limited',
};

/** The error answers an operation can give, each with the error body. */
function errors(...statuses: string[]): Record<string, ResponseObject> {
  const out: Record<string, ResponseObject> = {};
  for (const s of statuses)
    out[s] = { description: ERRORS[s] ?? 'error', content: json(ref('Error')) };
  return out;
}

const TOKEN = (
  scope: 'read' | 'publish' | 'approve' | 'admin',
): Array<Record<string, string[]>> => [{ apiToken: [scope] }];
const CLIENT: Array<Record<string, string[]>> = [{ clientSecret: [] }, { clientCertificate: [] }];

const pathParam = (name: string, description: string, schema: JsonSchema = str): Parameter => ({
  name,
  in: 'path',
  required: true,
  description,
  schema,
});

const UPDATE_ID: JsonSchema = { type: 'string', pattern: '^[0-9a-fA-F-]{36}$' };

/** The hardware the agent runs on; another than the record's flags a suspected clone. */
const HARDWARE_ID: Parameter = {
  name: 'Upcat-Hardware-Id',
  in: 'header',
  description: "the agent's hardware ID; if not the record's, the record is flagged cloneSuspected",
  schema: { type: 'string', pattern: '^[\\x20-\\x7e]{1,128}$' },
};

function schemas(): Record<string, JsonSchema> {
  return {
    Error: object(
      {
        error: object(
          {
            code: { type: 'string', description: 'a stable code (src/errors.ts)' },
            message: { type: 'string', description: 'one line for a person' },
          },
          ['code', 'message'],
        ),
      },
      ['error'],
    ),
    Registration: fromZod(registrationSchema),
    StatusMessages: fromZod(statusSchema),
    FallbackStatus: fromZod(fallbackSchema),
    Manifest: fromZod(manifestSchema),
    DeploymentInput: fromZod(deploymentSchema),
    PromotionInput: fromZod(promotionSchema),
    Deployment: object(
      {
        id: int,
        updateId: str,
        group: str,
        action: { enum: ['install', 'uninstall', 'optional'] },
        deadline: nullable(str),
        percent: int,
        catalogVersion: int,
      },
      ['id', 'updateId', 'group', 'action', 'deadline', 'percent', 'catalogVersion'],
    ),
    ...groupSchemas(),
    Promotion: {
      allOf: [
        ref('Deployment'),
        object(
          {
            from: str,
            evidence: object({
              revision: int,
              installed: int,
              failed: int,
              reporting: int,
              notApplicable: int,
              successRate: { type: 'number' },
              minSuccess: { type: 'number' },
            }),
          },
          ['from', 'evidence'],
        ),
      ],
    },
    ...updateAdminSchemas(),
    ExpireResult: object({ updateId: str, catalogVersion: int, changed: { type: 'boolean' } }),
    PublishResult: object(
      { updateId: str, revision: int, catalogVersion: int, sha256: str, sha1: str, size: int },
      ['updateId', 'revision', 'catalogVersion', 'sha256', 'sha1', 'size'],
    ),
    Client: object({
      clientId: str,
      hardwareId: str,
      name: str,
      os: str,
      architecture: str,
      clientVersion: str,
      status: str,
      approval: str,
      recordState: str,
      blocked: { type: 'boolean' },
      groups: arrayOf(str),
      lastContact: nullable(str),
      channel: { enum: ['agent', 'wusp'] },
    }),
    AuditEntry: object(
      {
        id: int,
        at: { type: 'string', format: 'date-time' },
        actor: { type: 'string', description: 'token:<name>, cli:<os user> or client:<id>' },
        tokenId: nullable({
          type: 'string',
          description: 'the id of the token behind a token:<name> actor (names can be reused)',
        }),
        action: str,
        target: nullable(str),
        detail: {},
        source: nullable({ type: 'string', description: 'the caller address, or cli' }),
      },
      ['id', 'at', 'actor', 'action'],
    ),
  };
}

function paths(): Record<string, PathItem> {
  const anyJson: JsonSchema = { type: 'object' };
  return {
    '/healthz': {
      get: {
        operationId: 'health',
        summary: 'the process is up and its database answers',
        tags: ['site'],
        responses: {
          '200': {
            description: 'healthy',
            content: json(object({ status: { const: 'ok' }, catalogVersion: int })),
          },
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: "this server process's Prometheus metrics (text exposition format 0.0.4)",
        description:
          'Who may read it is server.metricsAccess: loopback (the default: a caller on this host, not through a proxy), open, or token (a bearer token of scope admin). docs/OPERATIONS.md lists the series.',
        tags: ['site'],
        responses: {
          '200': {
            description: 'the metrics',
            content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: str } },
          },
          ...errors('401', '403'),
        },
      },
    },
    '/v1/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'this document',
        tags: ['site'],
        responses: { '200': { description: 'the OpenAPI document', content: json(anyJson) } },
      },
    },
    '/v1/site': {
      get: {
        operationId: 'siteInfo',
        summary: 'site code, version, mode, minimum client version, installation properties',
        tags: ['site'],
        responses: { '200': { description: 'the site', content: json(anyJson) } },
      },
    },
    '/v1/clients': {
      post: {
        operationId: 'register',
        summary: 'register a client (a client secret re-registers the same record)',
        tags: ['clients'],
        requestBody: { required: true, content: json(ref('Registration')) },
        responses: {
          '201': { description: 'the client ID, secret and status', content: json(anyJson) },
          ...errors('400', '403', '409'),
        },
      },
      get: clientListOperation(),
    },
    '/v1/clients/{clientId}/certificate': {
      get: {
        operationId: 'clientCertificate',
        summary: "the client's current certificate (native mode)",
        tags: ['clients'],
        security: CLIENT,
        parameters: [pathParam('clientId', 'the client record (its own)')],
        responses: {
          '200': { description: 'certificate PEM, serial, notAfter', content: json(anyJson) },
          ...errors('401', '403', '404'),
        },
      },
    },
    ...clientChanges(),
    ...sessionPaths(),
    ...clientAndTokenPaths(),
    ...groupAndDeploymentPaths(),
    '/v1/sync': {
      get: {
        operationId: 'sync',
        summary: "the client's signed policy since its anchor",
        tags: ['clients'],
        security: CLIENT,
        parameters: [
          {
            name: 'anchor',
            in: 'query',
            description: 'the anchor of the last answer',
            schema: str,
          },
          HARDWARE_ID,
        ],
        responses: {
          '200': { description: 'signed policy and a new anchor', content: json(anyJson) },
          '304': {
            description: 'nothing new',
            headers: {
              'X-Upcat-Anchor': { description: 'a fresher anchor, when there is one', schema: str },
            },
          },
          ...errors('401', '403'),
        },
      },
    },
    '/v1/status': {
      post: {
        operationId: 'status',
        summary: 'state messages from a registered client',
        tags: ['clients'],
        security: CLIENT,
        parameters: [HARDWARE_ID],
        requestBody: { required: true, content: json(ref('StatusMessages')) },
        responses: {
          '202': { description: 'accepted (each message stored once)', content: json(anyJson) },
          ...errors('400', '401', '403', '413'),
        },
      },
    },
    '/fsp/v1/status': {
      post: {
        operationId: 'fallbackStatus',
        summary: 'fallback status point: unauthenticated, rate-limited, size-limited',
        tags: ['clients'],
        requestBody: { required: true, content: json(ref('FallbackStatus')) },
        responses: {
          '202': { description: 'accepted', content: json(anyJson) },
          ...errors('400', '413', '429'),
        },
      },
    },
    '/content/{sha256}': {
      get: {
        operationId: 'content',
        summary:
          'a payload by SHA-256 (Range, ETag, immutable); `<sha256>.p7s` is its CMS signature',
        tags: ['catalog'],
        parameters: [
          pathParam('sha256', '64 hex digits, optionally followed by .p7s', {
            type: 'string',
            pattern: '^[0-9a-fA-F]{64}(\\.p7s)?$',
          }),
        ],
        responses: {
          '200': { description: 'the bytes' },
          '206': { description: 'a range of the bytes' },
          '304': { description: 'not modified' },
          ...errors('400', '404'),
        },
      },
    },
    '/tuf/{file}': {
      get: {
        operationId: 'tufMetadata',
        summary:
          'TUF metadata: root.json and timestamp.json (revalidated), N.root.json, N.snapshot.json, N.targets.json (immutable)',
        tags: ['catalog'],
        parameters: [pathParam('file', 'a metadata file name, such as timestamp.json')],
        responses: {
          '200': { description: 'signed metadata', content: json(anyJson) },
          '304': { description: 'not modified' },
          ...errors('404'),
        },
      },
    },
    '/tuf/targets/{path}': {
      get: {
        operationId: 'tufTarget',
        summary: 'a TUF target by hash-prefixed name (`<dir>/<sha256>.<name>`)',
        tags: ['catalog'],
        parameters: [pathParam('path', 'the target path; may hold slashes')],
        responses: { '200': { description: 'the bytes' }, ...errors('404') },
      },
    },
    '/pki/ca.pem': {
      get: {
        operationId: 'caCertificate',
        summary: 'the site CA certificate (PEM)',
        tags: ['catalog'],
        responses: { '200': { description: 'PEM' }, ...errors('404') },
      },
    },
    '/ClientWebService/client.asmx': {
      post: {
        operationId: 'wuspClientWebService',
        summary:
          'MS-WUSP ClientWebService: GetConfig, GetCookie, RegisterComputer, SyncUpdates, GetExtendedUpdateInfo, GetFileLocations, RefreshCache (SOAP 1.1 for the Windows Update Agent; docs/WINDOWS.md): a text/xml envelope dispatched on the quoted SOAPAction header; answers text/xml; faults (soap:Client with detail/ErrorCode) are sent with HTTP 500 as SOAP 1.1 requires',
        tags: ['wusp'],
        responses: {
          '200': { description: "the operation's SOAP response envelope" },
          '500': { description: 'a SOAP fault (ErrorCode, Message, ID, Method)' },
        },
      },
    },
    '/SimpleAuthWebService/SimpleAuth.asmx': {
      post: {
        operationId: 'wuspSimpleAuth',
        summary:
          'MS-WUSP SimpleAuthWebService: GetAuthorizationCookie (SOAP 1.1 for the Windows Update Agent; docs/WINDOWS.md): a text/xml envelope dispatched on the quoted SOAPAction header; answers text/xml; faults (soap:Client with detail/ErrorCode) are sent with HTTP 500 as SOAP 1.1 requires',
        tags: ['wusp'],
        responses: {
          '200': { description: "the operation's SOAP response envelope" },
          '500': { description: 'a SOAP fault (ErrorCode, Message, ID, Method)' },
        },
      },
    },
    '/ReportingWebService/ReportingWebService.asmx': {
      post: {
        operationId: 'wuspReporting',
        summary:
          'MS-WUSP ReportingWebService: ReportEventBatch (SOAP 1.1 for the Windows Update Agent; docs/WINDOWS.md): a text/xml envelope dispatched on the quoted SOAPAction header; answers text/xml; faults (soap:Client with detail/ErrorCode) are sent with HTTP 500 as SOAP 1.1 requires',
        tags: ['wusp'],
        responses: {
          '200': { description: "the operation's SOAP response envelope" },
          '500': { description: 'a SOAP fault (ErrorCode, Message, ID, Method)' },
        },
      },
    },
    '/ReportingWebService/WebService.asmx': {
      post: {
        operationId: 'wuspReportingWsdlAddress',
        summary:
          'MS-WUSP ReportingWebService at the address the section 6 WSDL names (same service) (SOAP 1.1 for the Windows Update Agent; docs/WINDOWS.md): a text/xml envelope dispatched on the quoted SOAPAction header; answers text/xml; faults (soap:Client with detail/ErrorCode) are sent with HTTP 500 as SOAP 1.1 requires',
        tags: ['wusp'],
        responses: {
          '200': { description: "the operation's SOAP response envelope" },
          '500': { description: 'a SOAP fault (ErrorCode, Message, ID, Method)' },
        },
      },
    },
    '/Content/{dir}/{file}': {
      get: {
        operationId: 'wuspContent',
        summary:
          'a payload wrapped in an Authenticode-signed CAB for the Windows Update Agent, at the URL GetExtendedUpdateInfo and GetFileLocations give (<last two hex digits of the SHA-1>/<SHA-1>.cab); HEAD and Range (206) for BITS',
        tags: ['wusp'],
        responses: {
          '200': { description: 'the CAB' },
          '206': { description: 'the requested range' },
          ...errors('404', '416'),
        },
      },
    },
    '/catalog/v1/upcat.cab': {
      get: {
        operationId: 'catalogCab',
        summary:
          'the catalog as a signed SystemsManagementCatalog CAB (upcat.xml inside, Authenticode-signed by the publisher), for ConfigMgr third-party catalogs and WSUS Package Publisher; rebuilt when the catalog version changes; strong ETag, If-None-Match answered 304, HEAD',
        tags: ['catalog'],
        responses: {
          '200': { description: 'the CAB (application/vnd.ms-cab-compressed)' },
          '304': { description: 'the ETag in If-None-Match is current' },
          ...errors('404', '409'),
        },
      },
    },
    '/catalog/v1/publisher.cer': {
      get: {
        operationId: 'catalogPublisherCertificate',
        summary:
          'the certificate that signs the catalog CAB and payloads (DER), to approve or trust',
        tags: ['catalog'],
        responses: { '200': { description: 'DER (application/pkix-cert)' }, ...errors('404') },
      },
    },
    '/console': {
      get: {
        operationId: 'console',
        summary: 'the web console (an HTML page; /console/ with its scripts under /console/js/)',
        tags: ['console'],
        responses: {
          '200': { description: 'HTML (text/html)' },
          '301': { description: 'to /console/' },
        },
      },
    },
    '/pki/crl': {
      get: {
        operationId: 'crl',
        summary: 'the certificate revocation list of the site CA',
        tags: ['catalog'],
        responses: { '200': { description: 'CRL (PEM)' }, ...errors('404') },
      },
    },
    '/v1/updates': {
      get: listUpdatesOperation(),
      post: {
        operationId: 'publish',
        summary:
          'publish a revision, streamed: a multipart form (manifest part, then payload file part), or the raw payload with the manifest in Upcat-Manifest',
        tags: ['release'],
        security: TOKEN('publish'),
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            description:
              'a retry with the same key gets the first answer instead of publishing twice',
            schema: { type: 'string', pattern: '^[!-~]{1,255}$' },
          },
          {
            name: 'Upcat-Manifest',
            in: 'header',
            description:
              'raw body form (application/octet-stream) only, and required there: the manifest JSON, base64; a manifest too large for a header goes in a multipart form',
            schema: { type: 'string', contentEncoding: 'base64' },
          },
          {
            name: 'fileName',
            in: 'query',
            description:
              'raw body form only, and required there: the payload file name (one path segment)',
            schema: str,
          },
        ],
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: object(
                {
                  manifest: ref('Manifest'),
                  payload: { type: 'string', contentMediaType: 'application/octet-stream' },
                },
                ['manifest', 'payload'],
              ),
              encoding: {
                manifest: { contentType: 'application/json' },
                payload: { contentType: 'application/octet-stream' },
              },
            },
            'application/octet-stream': {
              schema: { type: 'string', contentMediaType: 'application/octet-stream' },
            },
          },
        },
        responses: {
          '201': { description: 'published', content: json(ref('PublishResult')) },
          '200': {
            description:
              'the same revision was already published (or a retry with the Idempotency-Key of a finished publish: its first answer)',
            content: json(ref('PublishResult')),
          },
          ...errors('400', '401', '403'),
          '409': {
            description:
              'conflict (other bytes under a published product and version; a site without signing keys), or in_progress: a request with this Idempotency-Key is still running: retry later',
            content: json(ref('Error')),
          },
          '413': {
            description:
              'too_large: the declared or streamed payload or manifest is over the limit. A refusal that comes before a large body is read says Connection: close, and the rest of the body is not read',
            content: json(ref('Error')),
          },
          '422': {
            description:
              'idempotency_mismatch: the Idempotency-Key was used for another manifest, file name or payload',
            content: json(ref('Error')),
          },
          '500': {
            description: 'internal (see the server log) or integrity',
            content: json(ref('Error')),
          },
        },
      },
    },
    ...updateAdminPaths(),
    '/v1/updates/{updateId}/expire': {
      post: {
        operationId: 'expire',
        summary: 'withdraw an update from the catalog',
        tags: ['release'],
        security: TOKEN('publish'),
        parameters: [pathParam('updateId', 'the update', UPDATE_ID)],
        responses: {
          '200': { description: 'expired (or already was)', content: json(ref('ExpireResult')) },
          ...errors('401', '403', '404'),
        },
      },
    },
    '/v1/promotions': {
      post: {
        operationId: 'promote',
        summary: "copy an update's deployment to the next ring when it installs well enough",
        description:
          'Refused (409, with the figures) when installed / (installed + failed) in `from` is below `minSuccess`, or when no client in `from` has reported.',
        tags: ['admin'],
        security: TOKEN('approve'),
        requestBody: { required: true, content: json(ref('PromotionInput')) },
        responses: {
          '201': { description: 'the new deployment', content: json(ref('Promotion')) },
          ...errors('400', '401', '403', '404', '409'),
        },
      },
    },
    '/v1/reports/revisions': report(
      'reportRevisions',
      'per deployed revision: status (active, superseded, expired, declined); installed, already installed, uninstalled, failed, pending, not applicable',
      'revisions',
    ),
    '/v1/reports/clients/{clientId}/history': {
      ...report('reportClientHistory', "a client's state messages, newest first", 'history'),
      parameters: [pathParam('clientId', 'the client record')],
    },
    '/v1/reports/stale': {
      get: {
        ...(report('reportStale', 'clients not seen for N days', 'clients').get as Operation),
        parameters: [
          {
            name: 'days',
            in: 'query',
            description: 'days without contact (default 30)',
            schema: { type: 'integer', minimum: 1 },
          },
          REPORT_FORMAT,
        ],
      },
    },
    '/v1/reports/client-install-failures': report(
      'reportClientInstallFailures',
      'endpoints that reported a failed client install to the fallback status point',
      'endpoints',
    ),
    '/v1/audit': {
      get: {
        operationId: 'audit',
        summary: 'the audit log, oldest first',
        tags: ['admin'],
        security: TOKEN('admin'),
        parameters: [
          {
            name: 'since',
            in: 'query',
            description: 'an ISO 8601 time, or a duration back from now (7d, 12h)',
            schema: str,
          },
          {
            name: 'limit',
            in: 'query',
            description: 'at most this many, the newest (default 1000, at most 10000)',
            schema: { type: 'integer', minimum: 1, maximum: 10000 },
          },
          {
            name: 'before',
            in: 'query',
            description: 'only entries older than this id (the next page: next.before)',
            schema: { type: 'integer', minimum: 1 },
          },
        ],
        responses: {
          '200': {
            description:
              'entries; truncated when older entries match too, and next is the query for them',
            content: json(
              object(
                {
                  entries: arrayOf(ref('AuditEntry')),
                  truncated: { type: 'boolean' },
                  next: nullable(object({ before: int }, ['before'])),
                },
                ['entries', 'truncated', 'next'],
              ),
            ),
          },
          ...errors('400', '401', '403'),
        },
      },
    },
  };
}

/** A report: JSON, or CSV (RFC 4180, a header row) for `?format=csv` or `Accept: text/csv`. */
function report(operationId: string, summary: string, key: string): PathItem {
  return {
    get: {
      operationId,
      summary,
      tags: ['reports'],
      security: TOKEN('read'),
      parameters: [REPORT_FORMAT],
      responses: {
        '200': {
          description: `${summary}; as CSV, an attachment named upcat-<report>.csv`,
          content: {
            ...json(object({ [key]: arrayOf({}) })),
            'text/csv': { schema: str },
          },
        },
        ...errors('400', '401', '403', '404'),
      },
    },
  };
}

const REPORT_FORMAT: Parameter = {
  name: 'format',
  in: 'query',
  description: 'csv or json; without it, the Accept header decides (JSON first)',
  schema: { enum: ['csv', 'json'] },
};

const query = (name: string, description: string, schema: JsonSchema = str): Parameter => ({
  name,
  in: 'query',
  description,
  schema,
});
const pageParams: Parameter[] = [
  query('limit', 'at most this many (default 100)', { type: 'integer', minimum: 1, maximum: 1000 }),
  query('cursor', 'the `next` of the previous page'),
];
const trueFalse: JsonSchema = { enum: ['true', 'false'] };
const etagged = (description: string, schema: JsonSchema): Record<string, ResponseObject> => ({
  '200': {
    description,
    headers: { ETag: { description: 'send it back in If-None-Match', schema: str } },
    content: json(schema),
  },
  '304': { description: 'not modified (If-None-Match)' },
});

/** `GET /v1/clients` (issue 14 item 1): filtered, keyset-paged, with an ETag. */
function clientListOperation(): Operation {
  return {
    operationId: 'listClients',
    summary: 'client records, filtered, in creation order',
    tags: ['admin'],
    security: TOKEN('read'),
    parameters: [
      query('status', 'approved or pending (active records), conflict, obsolete', {
        enum: ['approved', 'pending', 'conflict', 'obsolete'],
      }),
      query('state', 'the record state', { enum: ['active', 'conflict', 'obsolete'] }),
      query('group', 'members of this group'),
      query('blocked', 'blocked (true) or not (false)', trueFalse),
      query('conflict', 'held in conflict (true) or not (false)', trueFalse),
      query('staleDays', 'active records not seen for this many days', {
        type: 'integer',
        minimum: 1,
      }),
      query('channel', 'agent (or native: upcat agent) or wusp (Windows Update Agent)', {
        enum: ['agent', 'native', 'wusp'],
      }),
      query('search', 'part of the name (any case), or the start of the client or hardware ID'),
      ...pageParams,
    ],
    responses: {
      ...etagged(
        'a page of clients',
        object({ clients: arrayOf(ref('Client')), next: nullable(str) }, ['clients', 'next']),
      ),
      ...errors('400', '401', '403'),
    },
  };
}

/** One client's detail and the tokens of the admin API (issue 14 item 1). */
function clientAndTokenPaths(): Record<string, PathItem> {
  const token = object(
    {
      id: str,
      name: str,
      scope: str,
      createdAt: str,
      expiresAt: nullable(str),
      revokedAt: nullable(str),
      lastUsedAt: nullable(str),
      state: { enum: ['active', 'expired', 'revoked'] },
    },
    ['id', 'name', 'scope', 'createdAt', 'expiresAt', 'revokedAt', 'lastUsedAt', 'state'],
  );
  return {
    '/v1/clients/{clientId}': {
      get: {
        operationId: 'showClient',
        summary: 'a client record and its recent state messages (newest first, at most 50)',
        tags: ['admin'],
        security: TOKEN('read'),
        parameters: [pathParam('clientId', 'the client: ID, unique ID prefix or name')],
        responses: {
          ...etagged(
            'the client',
            object({ client: ref('Client'), history: arrayOf({}) }, ['client', 'history']),
          ),
          ...errors('400', '401', '403', '404'),
        },
      },
    },
    '/v1/tokens': {
      get: {
        operationId: 'listTokens',
        summary: 'API tokens in creation order (never a secret or a hash)',
        tags: ['admin'],
        security: TOKEN('admin'),
        parameters: pageParams,
        responses: {
          ...etagged(
            'a page of tokens',
            object({ tokens: arrayOf(token), next: nullable(str) }, ['tokens', 'next']),
          ),
          ...errors('400', '401', '403'),
        },
      },
      post: {
        operationId: 'createToken',
        summary: 'create a token; its secret is in this answer only',
        tags: ['admin'],
        security: TOKEN('admin'),
        requestBody: {
          required: true,
          content: json(
            object(
              {
                name: str,
                scope: { enum: ['read', 'publish', 'approve', 'admin', 'enroll'] },
                expiresIn: { type: 'string', description: 'a lifetime such as 90d or 12h' },
              },
              ['scope'],
            ),
          ),
        },
        responses: {
          '201': {
            description: 'the token and its secret',
            content: json(
              object({ id: str, name: str, scope: str, token: str, expiresAt: nullable(str) }, [
                'id',
                'name',
                'scope',
                'token',
                'expiresAt',
              ]),
            ),
          },
          ...errors('400', '401', '403', '409'),
        },
      },
    },
    '/v1/tokens/{tokenId}': {
      delete: {
        operationId: 'revokeToken',
        summary: 'revoke a token (by id, or by its name when one live token has it)',
        tags: ['admin'],
        security: TOKEN('admin'),
        parameters: [pathParam('tokenId', 'the token id')],
        responses: {
          '200': { description: 'the revoked token', content: json(token) },
          ...errors('400', '401', '403', '404', '409'),
        },
      },
    },
  };
}

function clientChanges(): Record<string, PathItem> {
  const out: Record<string, PathItem> = {};
  for (const change of ['approve', 'block', 'unblock', 'resolve'] as const) {
    out[`/v1/clients/{clientId}/${change}`] = {
      post: {
        operationId: `client${change[0]?.toUpperCase() ?? ''}${change.slice(1)}`,
        summary:
          change === 'resolve'
            ? 'resolve an identity conflict: merge, new or block'
            : `${change} a client`,
        tags: ['admin'],
        security: TOKEN('approve'),
        parameters: [pathParam('clientId', 'the client: ID, unique ID prefix or name')],
        ...(change === 'resolve'
          ? {
              requestBody: {
                required: true,
                content: json(object({ how: { enum: ['merge', 'new', 'block'] } }, ['how'])),
              },
            }
          : {}),
        responses: {
          '200': { description: 'the client record', content: json(ref('Client')) },
          ...errors('400', '401', '403', '404', '409'),
        },
      },
    };
  }
  return out;
}

/** Groups and deployments of the admin API (issue 14 item 1). */
function groupSchemas(): Record<string, JsonSchema> {
  const member = object(
    {
      clientId: str,
      name: str,
      status: str,
      blocked: { type: 'boolean' },
      lastContact: nullable(str),
    },
    ['clientId', 'name', 'status', 'blocked', 'lastContact'],
  );
  return {
    DeploymentChange: fromZod(deploymentChangeSchema),
    Group: object(
      {
        name: str,
        builtin: { type: 'boolean' },
        members: { type: 'integer', description: 'live clients in the group' },
      },
      ['name', 'builtin', 'members'],
    ),
    GroupDetail: {
      allOf: [
        ref('Group'),
        object({ deployments: int, clients: arrayOf(member), next: nullable(str) }, [
          'deployments',
          'clients',
          'next',
        ]),
      ],
    },
  };
}

const PAGE_PARAMS: Parameter[] = [
  {
    name: 'limit',
    in: 'query',
    description: 'at most this many (default 100)',
    schema: { type: 'integer', minimum: 1, maximum: 1000 },
  },
  { name: 'cursor', in: 'query', description: 'the `next` of the previous page', schema: str },
];

const ETAG_HEADERS = {
  ETag: {
    description: 'a strong validator of the body; send it back in If-None-Match',
    schema: str,
  },
};

const GROUP_NAME = pathParam('group', 'the group name (URL-encoded)');

function groupAndDeploymentPaths(): Record<string, PathItem> {
  const pageOf = (key: string, items: JsonSchema): JsonSchema =>
    object({ [key]: arrayOf(items), next: nullable(str) }, [key, 'next']);
  return {
    '/v1/groups': {
      get: {
        operationId: 'listGroups',
        summary: 'groups with their member counts, in creation order',
        tags: ['admin'],
        security: TOKEN('read'),
        parameters: PAGE_PARAMS,
        responses: {
          '200': {
            description: 'a page of groups',
            headers: ETAG_HEADERS,
            content: json(pageOf('groups', ref('Group'))),
          },
          '304': { description: 'not modified (If-None-Match)' },
          ...errors('400', '401', '403'),
        },
      },
      post: {
        operationId: 'createGroup',
        summary: 'create a named group',
        tags: ['admin'],
        security: TOKEN('approve'),
        requestBody: { required: true, content: json(object({ name: str }, ['name'])) },
        responses: {
          '201': { description: 'the group', content: json(ref('Group')) },
          ...errors('400', '401', '403', '409'),
        },
      },
    },
    '/v1/groups/{group}': {
      parameters: [GROUP_NAME],
      get: {
        operationId: 'showGroup',
        summary: 'a group, its deployment count and a page of its members (client ID order)',
        tags: ['admin'],
        security: TOKEN('read'),
        parameters: PAGE_PARAMS,
        responses: {
          '200': {
            description: 'the group',
            headers: ETAG_HEADERS,
            content: json(ref('GroupDetail')),
          },
          '304': { description: 'not modified (If-None-Match)' },
          ...errors('400', '401', '403', '404'),
        },
      },
      patch: {
        operationId: 'renameGroup',
        summary: 'rename a named group (the builtin groups keep their names)',
        tags: ['admin'],
        security: TOKEN('approve'),
        requestBody: { required: true, content: json(object({ name: str }, ['name'])) },
        responses: {
          '200': { description: 'the group', content: json(ref('Group')) },
          ...errors('400', '401', '403', '404', '409'),
        },
      },
      delete: {
        operationId: 'deleteGroup',
        summary: 'delete a named group; its members leave it',
        description:
          'A group that still has deployments is refused (409) unless force=true, which removes them too and moves the catalog version. All Computers and Unassigned cannot be deleted (400).',
        tags: ['admin'],
        security: TOKEN('approve'),
        parameters: [
          {
            name: 'force',
            in: 'query',
            description: 'also remove the group’s deployments',
            schema: { enum: ['true', 'false'] },
          },
        ],
        responses: {
          '200': {
            description: 'deleted',
            content: json(
              object(
                {
                  name: str,
                  removedDeployments: int,
                  removedMembers: int,
                  catalogVersion: nullable(int),
                },
                ['name', 'removedDeployments', 'removedMembers', 'catalogVersion'],
              ),
            ),
          },
          ...errors('400', '401', '403', '404', '409'),
        },
      },
    },
    '/v1/groups/{group}/members': {
      parameters: [GROUP_NAME],
      post: {
        operationId: 'addGroupMembers',
        summary: 'put clients in a named group (each by ID, unique ID prefix or name), all or none',
        tags: ['admin'],
        security: TOKEN('approve'),
        requestBody: {
          required: true,
          content: json(
            object({ clientIds: { ...arrayOf(str), minItems: 1, maxItems: 1000 } }, ['clientIds']),
          ),
        },
        responses: {
          '200': {
            description: 'the clients; added is false for one that was already a member',
            content: json(
              object(
                {
                  group: str,
                  clients: arrayOf(
                    object({ clientId: str, added: { type: 'boolean' } }, ['clientId', 'added']),
                  ),
                },
                ['group', 'clients'],
              ),
            ),
          },
          ...errors('400', '401', '403', '404'),
        },
      },
    },
    '/v1/groups/{group}/members/{client}': {
      parameters: [GROUP_NAME, pathParam('client', 'the client: ID, unique ID prefix or name')],
      delete: {
        operationId: 'removeGroupMember',
        summary: 'take a client out of a named group',
        tags: ['admin'],
        security: TOKEN('approve'),
        responses: {
          '200': {
            description: 'removed',
            content: json(object({ group: str, clientId: str }, ['group', 'clientId'])),
          },
          ...errors('400', '401', '403', '404'),
        },
      },
    },
    '/v1/deployments': {
      get: {
        operationId: 'listDeployments',
        summary: 'deployments in ID order, filtered',
        tags: ['admin'],
        security: TOKEN('read'),
        parameters: [
          { name: 'group', in: 'query', description: 'only this group', schema: str },
          { name: 'updateId', in: 'query', description: 'only this update', schema: UPDATE_ID },
          {
            name: 'action',
            in: 'query',
            description: 'only this action',
            schema: { enum: ['install', 'uninstall', 'optional'] },
          },
          ...PAGE_PARAMS,
        ],
        responses: {
          '200': {
            description: 'a page of deployments',
            headers: ETAG_HEADERS,
            content: json(pageOf('deployments', ref('Deployment'))),
          },
          '304': { description: 'not modified (If-None-Match)' },
          ...errors('400', '401', '403'),
        },
      },
      post: {
        operationId: 'approve',
        summary: 'deploy an update to a group',
        tags: ['admin'],
        security: TOKEN('approve'),
        requestBody: { required: true, content: json(ref('DeploymentInput')) },
        responses: {
          '201': { description: 'the deployment', content: json(ref('Deployment')) },
          ...errors('400', '401', '403', '404', '409'),
        },
      },
    },
    '/v1/deployments/{id}': {
      parameters: [pathParam('id', 'the deployment ID', { type: 'integer', minimum: 1 })],
      patch: {
        operationId: 'changeDeployment',
        summary: 'change a deployment’s deadline (null clears it) or rollout percentage',
        description:
          'Moves the catalog version: the clients’ next sync carries the change. `percent` and `percentage` are the same field.',
        tags: ['admin'],
        security: TOKEN('approve'),
        requestBody: { required: true, content: json(ref('DeploymentChange')) },
        responses: {
          '200': { description: 'the deployment', content: json(ref('Deployment')) },
          ...errors('400', '401', '403', '404'),
        },
      },
      delete: {
        operationId: 'removeDeployment',
        summary: 'remove a deployment: its update leaves the group’s policy',
        tags: ['admin'],
        security: TOKEN('approve'),
        responses: {
          '200': {
            description: 'removed',
            content: json(
              object({ id: int, updateId: str, group: str, catalogVersion: int }, [
                'id',
                'updateId',
                'group',
                'catalogVersion',
              ]),
            ),
          },
          ...errors('400', '401', '403', '404'),
        },
      },
    },
  };
}

let built: OpenApiDocument | undefined;

export function openApiDocument(): OpenApiDocument {
  built ??= {
    openapi: '3.1.0',
    info: {
      title: 'upcat',
      version: SITE_VERSION,
      description:
        'A WSUS-style software update catalog with a TUF-signed catalog. See docs/PROTOCOL.md.',
    },
    tags: [
      { name: 'site', description: 'discovery and health' },
      { name: 'catalog', description: 'the signed catalog and payloads (public, cacheable)' },
      { name: 'clients', description: 'what endpoints call' },
      { name: 'release', description: 'release pipelines (publish scope)' },
      { name: 'admin', description: 'administrators (approve and admin scopes)' },
      { name: 'reports', description: 'compliance reports (approve scope)' },
      { name: 'users', description: "people's accounts and login sessions (issue 14)" },
    ],
    paths: paths(),
    components: {
      securitySchemes: {
        apiToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API token (`upcat token create --scope read|publish|approve|admin`); admin implies the other scopes, every scope implies read, approve does not imply publish.',
        },
        clientSecret: {
          type: 'http',
          scheme: 'bearer',
          description: 'The client secret that registration returned (mixed mode).',
        },
        clientCertificate: {
          type: 'mutualTLS',
          description: 'A client certificate issued by the site CA (native mode, HTTPS listener).',
        },
        sessionCookie: SESSION_COOKIE_SCHEME,
      },
      schemas: schemas(),
    },
  };
  return built;
}

/** `GET /v1/openapi.json`. */
export function openApiRoutes(router: Router): void {
  router.get('/v1/openapi.json', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json(openApiDocument());
  });
}
