import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { SITE_VERSION } from '../../version.js';
import type { Registry } from './registry.js';
import { registerAudit } from './audit.js';
import { registerCatalog } from './catalog.js';
import { registerClients } from './clients.js';
import { registerDeployments } from './deployments.js';
import { registerEndpoints } from './endpoints.js';
import { registerGroups } from './groups.js';
import { registerReports } from './reports.js';
import { registerRollouts } from './rollouts.js';
import { registerSite } from './site.js';
import { registerTokens } from './tokens.js';
import { registerUpdates } from './updates.js';
import { registerUsers } from './users.js';
import { registerWusp } from './wusp.js';

/**
 * The OpenAPI 3.1 description of the whole HTTP API (issue 14 item 2), served at
 * `GET /v1/openapi.json` and read by the reference page at `/v1/docs`. It is generated
 * (@asteasolutions/zod-to-openapi) from a registry that each area module fills with its routes,
 * described by the zod schemas the routes validate with, so the document cannot drift from what
 * the server accepts. test/integration/openapi.test.ts fails when a served route (method and
 * path) is not registered, or a registered one is not served.
 *
 * A new route module: register its routes in src/server/openapi/<area>.ts and add the area's
 * function here.
 */
const AREAS: ReadonlyArray<(registry: Registry) => void> = [
  registerSite,
  registerCatalog,
  registerEndpoints,
  registerWusp,
  registerUpdates,
  registerClients,
  registerGroups,
  registerDeployments,
  registerRollouts,
  registerReports,
  registerAudit,
  registerTokens,
  registerUsers,
];

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

const TAGS = [
  { name: 'site', description: 'discovery, health, this document' },
  { name: 'catalog', description: 'the signed catalog and payloads (public, cacheable)' },
  { name: 'endpoints', description: 'what upcat agents call' },
  { name: 'wusp', description: 'MS-WUSP for the Windows Update Agent (docs/WINDOWS.md)' },
  { name: 'updates', description: 'the catalog: publish, list, decline, expire' },
  { name: 'clients', description: 'client records: list, detail, approve, block, resolve' },
  { name: 'groups', description: 'groups (rings) and their members' },
  { name: 'deployments', description: 'updates deployed to groups, and promotions' },
  { name: 'rollouts', description: 'updates deployed ring by ring, advancing on evidence' },
  { name: 'reports', description: 'compliance reports, as JSON or CSV' },
  { name: 'audit', description: 'who changed what' },
  { name: 'tokens', description: 'API tokens for pipelines and scripts (admin)' },
  { name: 'users', description: "people's accounts and login sessions" },
];

function registerSecuritySchemes(registry: Registry): void {
  registry.registerComponent('securitySchemes', 'apiToken', {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API token (`upcat token create --scope read|publish|approve|admin`); admin implies the other scopes, every scope implies read, approve does not imply publish.',
  });
  registry.registerComponent('securitySchemes', 'sessionCookie', {
    type: 'apiKey',
    in: 'cookie',
    name: 'upcat_session',
    description:
      "A person's session (POST /v1/session), with the role's scope: admin -> admin, operator -> approve, viewer -> read. Every POST, PUT, PATCH or DELETE made with it must carry the header X-CSRF-Token (from the login answer or GET /v1/session), else 403.",
  });
  registry.registerComponent('securitySchemes', 'clientSecret', {
    type: 'http',
    scheme: 'bearer',
    description: 'The client secret that registration returned (mixed mode).',
  });
  registry.registerComponent('securitySchemes', 'clientCertificate', {
    type: 'mutualTLS',
    description: 'A client certificate issued by the site CA (native mode, HTTPS listener).',
  });
}

/** A fresh document: every area registered into one registry, then generated. */
export function buildOpenApiDocument(): OpenApiDocument {
  const registry = new OpenAPIRegistry();
  registerSecuritySchemes(registry);
  for (const register of AREAS) register(registry);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'upcat',
      version: SITE_VERSION,
      description:
        'A WSUS-style software update catalog with a TUF-signed catalog. See docs/PROTOCOL.md; a readable reference of this document is at /v1/docs.',
    },
    tags: TAGS,
  });
}

let built: OpenApiDocument | undefined;

/** The document, built once per process (the routes do not change while it runs). */
export function openApiDocument(): OpenApiDocument {
  built ??= buildOpenApiDocument();
  return built;
}

/** `GET /v1/openapi.json`. */
export function openApiRoutes(router: Router): void {
  router.get('/v1/openapi.json', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json(openApiDocument());
  });
}
