import { z } from 'zod';
import { errors, json, type Registry } from './registry.js';

/**
 * Discovery and health (routes/health.ts, routes/site.ts, routes/metrics.ts), this document and
 * its reference page (openapi/index.ts, routes/api-docs.ts), and the console's page
 * (routes/console.ts).
 */

const html = { 'text/html': { schema: z.string() } };

export function registerSite(registry: Registry): void {
  registry.registerPath({
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    summary: 'the process is up and its database answers',
    tags: ['site'],
    responses: {
      '200': {
        description: 'healthy',
        content: json(z.object({ status: z.literal('ok'), catalogVersion: z.number().int() })),
      },
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    summary: "this server process's Prometheus metrics (text exposition format 0.0.4)",
    description:
      'Who may read it is server.metricsAccess: loopback (the default: a caller on this host, not through a proxy), open, or token (a bearer token of scope admin). docs/OPERATIONS.md lists the series.',
    tags: ['site'],
    responses: {
      '200': {
        description: 'the metrics',
        content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: z.string() } },
      },
      ...errors('401', '403'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/site',
    operationId: 'siteInfo',
    summary: 'site code, version, mode, minimum client version, installation properties',
    description:
      'An approved client (its secret or certificate) also gets the installation properties of its groups.',
    tags: ['site'],
    responses: {
      '200': {
        description: 'the site',
        content: json(
          z.looseObject({
            siteCode: z.string(),
            siteName: z.string(),
            siteVersion: z.string(),
            mode: z.string(),
            minimumClientVersion: z.string(),
            catalogVersion: z.number().int(),
          }),
        ),
      },
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/openapi.json',
    operationId: 'openapi',
    summary: 'this document (OpenAPI 3.1)',
    tags: ['site'],
    responses: {
      '200': { description: 'the document', content: json(z.record(z.string(), z.unknown())) },
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/docs',
    operationId: 'apiReference',
    summary: 'this document as a readable reference (Swagger UI, served by upcat: works offline)',
    tags: ['site'],
    responses: { '200': { description: 'the page', content: html } },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/docs/{file}',
    operationId: 'apiReferenceAsset',
    summary: "the reference page's script and stylesheet",
    tags: ['site'],
    request: {
      params: z.object({
        file: z.enum(['swagger-ui-bundle.js', 'swagger-ui.css', 'start.js']),
      }),
    },
    responses: { '200': { description: 'the file' }, ...errors('404') },
  });
  registry.registerPath({
    method: 'get',
    path: '/console',
    operationId: 'console',
    summary: 'the web console (an HTML page; /console/ with its scripts under /console/js/)',
    tags: ['site'],
    responses: {
      '200': { description: 'the page', content: html },
      '301': { description: 'to /console/' },
    },
  });
}
