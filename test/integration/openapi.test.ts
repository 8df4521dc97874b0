import http from 'node:http';
import { validate } from '@readme/openapi-parser';
import test from 'ava';
import express from 'express';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { MUTABLE_FILES, withMetadataFastPath } from '../../src/server/mutable-metadata.js';
import { openApiDocument, type OpenApiDocument } from '../../src/server/openapi/index.js';
import { tufRepoDir } from '../../src/signing/tuf-repo.js';
import { makeSite } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete'] as const;
type Method = (typeof METHODS)[number];
type Operation = { operationId?: string; security?: Array<Record<string, string[]>> };
type PathItem = Partial<Record<Method, Operation>>;

interface RouteLayer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: RouteLayer[] };
}

/** Every (method, path) registered on an Express app, nested routers included. */
function registeredRoutes(app: unknown): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (stack: RouteLayer[]): void => {
    for (const layer of stack) {
      if (layer.route !== undefined) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        for (const p of paths)
          for (const [m, on] of Object.entries(layer.route.methods))
            if (on && m !== '_all') out.push([m, p]);
      } else if (layer.handle?.stack !== undefined) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as { router: { stack: RouteLayer[] } }).router.stack);
  return out;
}

/** `/a/:x/b`, `/a/*rest` and `/a/{x}/b` all become `/a/{}/b`: the shape, not the parameter name. */
const shape = (path: string): string =>
  path.replace(/:[A-Za-z_]\w*|\*[A-Za-z_]\w*|\{[^}]+\}/g, '{}');

const pathsOf = (doc: OpenApiDocument): Record<string, PathItem> =>
  (doc.paths ?? {}) as Record<string, PathItem>;

/**
 * Method by method: the routes served and not documented, and the operations documented and
 * not served. A POST route whose path the document has only a GET for is missing.
 */
function compare(app: unknown, doc: OpenApiDocument): { missing: string[]; stale: string[] } {
  const documented = new Set<string>();
  for (const [p, item] of Object.entries(pathsOf(doc)))
    for (const m of METHODS) if (item[m] !== undefined) documented.add(`${m} ${shape(p)}`);
  const registered = new Set(registeredRoutes(app).map(([m, p]) => `${m} ${shape(p)}`));
  return {
    missing: [...registered].filter((r) => !documented.has(r)).sort(),
    stale: [...documented].filter((r) => !registered.has(r)).sort(),
  };
}

const SAMPLES: Record<string, string> = {
  sha256: 'a'.repeat(64),
  file: 'timestamp.json',
  path: `ab/${'b'.repeat(64)}.x.bin`,
  clientId: '00000000-0000-4000-8000-000000000000',
  updateId: '00000000-0000-4000-8000-000000000001',
};

/** The documented paths a concrete URL path matches (a parameter is one segment). */
function documentedPathsOf(url: string): string[] {
  return Object.keys(pathsOf(openApiDocument())).filter((p) =>
    new RegExp(`^${p.replace(/\{\w+\}/g, '[^/]+')}$`).test(url),
  );
}

const isRouteMiss = (res: { status: number; body: unknown }): boolean =>
  res.status === 404 &&
  /^no route for /.test(
    String((res.body as { error?: { message?: unknown } } | undefined)?.error?.message ?? ''),
  );

test('every route the app registers is in the OpenAPI document, method by method, and every documented operation is served', async (t) => {
  const ctx = await makeSite('sqlite');
  try {
    const app = createApp(ctx.site);
    const doc = openApiDocument();
    t.true(registeredRoutes(app).length >= 60, 'the walk finds the routes');
    const { missing, stale } = compare(app, doc);
    t.deepEqual(missing, [], 'registered but not documented');
    t.deepEqual(stale, [], 'documented but not registered');

    for (const [p, item] of Object.entries(pathsOf(doc))) {
      const url = p.replace(/\{(\w+)\}/g, (_, name: string) => SAMPLES[name] ?? 'x');
      if (item.get !== undefined) {
        const res = await request(app).get(url);
        t.false(isRouteMiss(res), `GET ${url}`);
      }
      if (item.post !== undefined) {
        const res = await request(app).post(url).send({});
        t.false(isRouteMiss(res), `POST ${url}`);
      }
    }
    // The check itself tells a route miss from a resource miss.
    t.true(isRouteMiss(await request(app).get('/v1/nowhere')));
    t.false(isRouteMiss(await request(app).get(`/content/${'a'.repeat(64)}`)));
  } finally {
    await ctx.cleanup();
  }
});

test('the comparison fails a method the document lacks, and an operation no route serves', (t) => {
  const app = express();
  const router = express.Router();
  router.get('/v1/things/:id', () => undefined);
  router.post('/v1/things/:id', () => undefined);
  app.use(router);
  const op = { responses: { '200': { description: 'ok' } } };
  const doc = {
    openapi: '3.1.0',
    info: { title: 't', version: '1' },
    paths: { '/v1/things/{thingId}': { get: op }, '/v1/other': { delete: op } },
  } as OpenApiDocument;
  t.deepEqual(compare(app, doc), {
    missing: ['post /v1/things/{}'],
    stale: ['delete /v1/other'],
  });
});

test('the metadata fast path in front of Express (serve.ts) serves only documented paths', async (t) => {
  const ctx = await makeSite('sqlite');
  try {
    await ctx.site.tuf?.sync();
    const app = createApp(ctx.site);
    let reachedExpress = 0;
    const handler = withMetadataFastPath(tufRepoDir(ctx.site.config.dirs.catalog), (req, res) => {
      reachedExpress += 1;
      app(req, res);
    });
    const server = http.createServer(handler);
    for (const file of MUTABLE_FILES) {
      const res = await request(server).get(`/tuf/${file}`);
      t.is(res.status, 200, file);
      t.deepEqual(documentedPathsOf(`/tuf/${file}`), ['/tuf/{file}'], file);
    }
    t.is(reachedExpress, 0, 'answered before routing');
    await request(server).get('/v1/openapi.json').expect(200);
    t.is(reachedExpress, 1);
  } finally {
    await ctx.cleanup();
  }
});

test('GET /v1/openapi.json: a valid OpenAPI 3.1 document (@readme/openapi-parser) whose references resolve', async (t) => {
  const ctx = await makeSite('sqlite');
  try {
    const res = await request(createApp(ctx.site)).get('/v1/openapi.json').expect(200);
    const doc = res.body as OpenApiDocument;
    t.is(doc.openapi, '3.1.0');
    t.deepEqual(doc, JSON.parse(JSON.stringify(openApiDocument())));

    const result = await validate(structuredClone(doc) as Parameters<typeof validate>[0]);
    t.true(result.valid, JSON.stringify(result.valid ? [] : result.errors, null, 2));
    t.is(result.specification, 'OpenAPI');

    const schemas = doc.components?.schemas ?? {};
    const text = JSON.stringify(doc);
    const refs = [...text.matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map((m) => m[1]);
    t.true(refs.length > 10);
    for (const r of refs) t.truthy(schemas[r ?? ''], `schema ${r}`);
    const ops = Object.values(pathsOf(doc)).flatMap((item) =>
      METHODS.flatMap((m) => item[m] ?? []),
    );
    const ids = ops.map((op) => op.operationId);
    t.false(ids.includes(undefined), 'every operation has an ID');
    t.is(new Set(ids).size, ids.length, 'operation IDs are unique');
    const schemes = doc.components?.securitySchemes ?? {};
    for (const op of ops)
      for (const s of op.security ?? [])
        for (const scheme of Object.keys(s)) t.truthy(schemes[scheme], scheme);
    t.deepEqual(pathsOf(doc)['/v1/audit']?.get?.security, [
      { apiToken: ['admin'] },
      { sessionCookie: ['admin'] },
    ]);
    t.deepEqual(pathsOf(doc)['/v1/promotions']?.post?.security, [
      { apiToken: ['approve'] },
      { sessionCookie: ['approve'] },
    ]);
  } finally {
    await ctx.cleanup();
  }
});

test('GET /v1/docs: the reference page loads its script and stylesheet from this server only, under a CSP', async (t) => {
  const ctx = await makeSite('sqlite');
  try {
    const app = createApp(ctx.site);
    const page = await request(app).get('/v1/docs').expect(200);
    t.regex(String(page.headers['content-type']), /^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    t.true(csp.includes("script-src 'self'") && csp.includes("default-src 'none'"), csp);
    t.false(/https?:/.test(csp), 'the CSP names no other origin');
    t.false(/<script>|\son\w+=/.test(page.text), 'no inline script');
    const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '');
    t.deepEqual(assets.sort(), [
      '/v1/docs/start.js',
      '/v1/docs/swagger-ui-bundle.js',
      '/v1/docs/swagger-ui.css',
      '/v1/openapi.json',
      'data:,',
    ]);
    for (const asset of assets.filter((a) => a.startsWith('/v1/docs/'))) {
      const res = await request(app).get(asset).expect(200);
      t.regex(String(res.headers['content-type']), /javascript|css/, asset);
      t.truthy(res.headers['content-security-policy'], asset);
    }
    const start = await request(app).get('/v1/docs/start.js');
    t.regex(start.text, /url: '\/v1\/openapi\.json'/);
    t.regex(start.text, /validatorUrl: null/);
    // Only the files the page uses: not the rest of the package, nor a path out of it.
    for (const other of [
      'index.html',
      'package.json',
      '..%2Fpackage.json',
      'swagger-initializer.js',
    ])
      await request(app).get(`/v1/docs/${other}`).expect(404);
  } finally {
    await ctx.cleanup();
  }
});

interface QueryParameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: { enum?: string[]; pattern?: string };
}

/** A value of a documented query parameter its route should take. */
function sampleOf(p: QueryParameter): string {
  if (p.schema?.enum?.[0] !== undefined) return p.schema.enum[0];
  if (p.name === 'updateId') return SAMPLES['updateId'] ?? '';
  if (p.name === 'since') return '7d';
  if (p.schema?.pattern?.startsWith('^\\d') === true || p.schema?.pattern?.startsWith('^[1-9]'))
    return '1';
  return 'x';
}

test('every documented query parameter is one its route takes (a hand-checked query cannot drift from the document)', async (t) => {
  const ctx = await makeSite('sqlite');
  try {
    const app = createApp(ctx.site);
    const auth = await bearer(ctx.site, 'admin');
    let checked = 0;
    for (const [p, item] of Object.entries(pathsOf(openApiDocument()))) {
      const op = item.get as (Operation & { parameters?: QueryParameter[] }) | undefined;
      const query = (op?.parameters ?? []).filter((q) => q.in === 'query');
      const url = p.replace(/\{(\w+)\}/g, (_, name: string) => SAMPLES[name] ?? 'x');
      const required = Object.fromEntries(
        query.filter((q) => q.required === true).map((q) => [q.name, sampleOf(q)]),
      );
      // A cursor is only ever one the server wrote: the paging tests own it.
      for (const q of query.filter((q) => q.name !== 'cursor')) {
        const res = await request(app)
          .get(url)
          .query({ ...required, [q.name]: sampleOf(q) })
          .set('Authorization', auth);
        const message = String((res.body as { error?: { message?: unknown } }).error?.message);
        t.not(res.status, 500, `GET ${url}?${q.name}`);
        t.false(
          res.status === 400 &&
            new RegExp(`\\b${q.name}\\b.*unknown|unknown.*\\b${q.name}\\b`).test(message),
          `GET ${url}?${q.name}: ${message}`,
        );
        checked += 1;
      }
    }
    t.true(checked >= 25, `checked ${checked} parameters`);
    // The check sees a refusal of an unknown parameter for what it is.
    const res = await request(app).get('/v1/groups?colour=x').set('Authorization', auth);
    t.is(res.status, 400);
    t.regex(String((res.body as { error: { message: string } }).error.message), /colour.*unknown/);
  } finally {
    await ctx.cleanup();
  }
});
