import http from 'node:http';
import test from 'ava';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { MUTABLE_FILES, withMetadataFastPath } from '../../src/server/mutable-metadata.js';
import { openApiDocument, type HttpMethod } from '../../src/server/openapi.js';
import { tufRepoDir } from '../../src/signing/tuf-repo.js';
import { makeSite } from '../helpers/site.js';

interface RouteLayer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: RouteLayer[] };
}

/** Every (method, path) registered on the Express app, nested routers included. */
function registeredRoutes(app: { router: { stack: RouteLayer[] } }): Array<[string, string]> {
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
  walk(app.router.stack);
  return out;
}

/** `/a/:x/b`, `/a/*rest` and `/a/{x}/b` all become `/a/{}/b`: the shape, not the parameter name. */
const shape = (path: string): string =>
  path.replace(/:[A-Za-z_]\w*|\*[A-Za-z_]\w*|\{[^}]+\}/g, '{}');

const SAMPLES: Record<string, string> = {
  sha256: 'a'.repeat(64),
  file: 'timestamp.json',
  path: `ab/${'b'.repeat(64)}.x.bin`,
  clientId: '00000000-0000-4000-8000-000000000000',
  updateId: '00000000-0000-4000-8000-000000000001',
};

/** The documented paths a concrete URL path matches (a parameter is one segment). */
function documentedPathsOf(url: string): string[] {
  return Object.keys(openApiDocument().paths).filter((p) =>
    new RegExp(`^${p.replace(/\{\w+\}/g, '[^/]+')}$`).test(url),
  );
}

const isRouteMiss = (res: { status: number; body: unknown }): boolean =>
  res.status === 404 &&
  /^no route for /.test(
    String((res.body as { error?: { message?: unknown } } | undefined)?.error?.message ?? ''),
  );

test('every route the app registers is in the OpenAPI document, and every documented path is served', async (t) => {
  const ctx = await makeSite('sqlite');
  try {
    const app = createApp(ctx.site);
    const doc = openApiDocument();
    const documented = new Set<string>();
    for (const [p, item] of Object.entries(doc.paths))
      for (const m of ['get', 'head', 'post', 'patch', 'delete'] as HttpMethod[])
        if (item[m] !== undefined) documented.add(`${m} ${shape(p)}`);

    const routes = registeredRoutes(app as unknown as { router: { stack: RouteLayer[] } });
    t.true(routes.length >= 25, `found ${routes.length} routes`);
    const missing = routes.map(([m, p]) => `${m} ${shape(p)}`).filter((r) => !documented.has(r));
    t.deepEqual(missing, [], 'registered but not documented');

    const registered = new Set(routes.map(([m, p]) => `${m} ${shape(p)}`));
    const stale = [...documented].filter((r) => !registered.has(r));
    t.deepEqual(stale, [], 'documented but not registered');

    for (const [p, item] of Object.entries(doc.paths)) {
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

test('GET /v1/openapi.json: an OpenAPI 3.1 document whose references resolve', async (t) => {
  const ctx = await makeSite('sqlite');
  try {
    const res = await request(createApp(ctx.site)).get('/v1/openapi.json').expect(200);
    const doc = res.body as ReturnType<typeof openApiDocument>;
    t.is(doc.openapi, '3.1.0');
    t.deepEqual(doc, JSON.parse(JSON.stringify(openApiDocument())));
    const text = JSON.stringify(doc);
    const refs = [...text.matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map((m) => m[1]);
    t.true(refs.length > 10);
    for (const r of refs) t.truthy(doc.components.schemas[r ?? ''], `schema ${r}`);
    const ids = Object.values(doc.paths).flatMap((item) =>
      (['get', 'head', 'post', 'patch', 'delete'] as const).flatMap(
        (m) => item[m]?.operationId ?? [],
      ),
    );
    t.is(new Set(ids).size, ids.length, 'operation IDs are unique');
    for (const item of Object.values(doc.paths))
      for (const op of [item.get, item.post])
        for (const s of op?.security ?? [])
          for (const scheme of Object.keys(s))
            t.truthy(doc.components.securitySchemes[scheme], scheme);
    const publish = doc.paths['/v1/updates']?.post;
    t.truthy(publish?.requestBody?.content['multipart/form-data']);
    t.true(publish?.parameters?.some((p) => p.name === 'Idempotency-Key' && p.in === 'header'));
    t.deepEqual(doc.paths['/v1/audit']?.get?.security, [{ apiToken: ['admin'] }]);
    t.deepEqual(doc.paths['/v1/promotions']?.post?.security, [{ apiToken: ['approve'] }]);
  } finally {
    await ctx.cleanup();
  }
});
