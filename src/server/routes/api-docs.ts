import { createRequire } from 'node:module';
import path from 'node:path';
import type { Response, Router } from 'express';
import { errorBody } from '../middleware/errors.js';

/**
 * The API reference at `/v1/docs` (issue 14 item 2): Swagger UI (swagger-ui-dist, installed with
 * upcat, so it works offline and loads nothing from elsewhere) rendering `/v1/openapi.json`.
 * Only its bundle and stylesheet are served, from node_modules, next to a page and a start
 * script of ours; the page runs no inline script.
 */
const DIST = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/**
 * As the console's (routes/console.ts): scripts and styles from this server only, requests to
 * this server only ("Try it out"), never framed. Swagger UI sets element styles through the DOM,
 * which style-src does not govern, and its icons are data: SVGs.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>upcat API reference</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="/v1/docs/swagger-ui.css" />
  </head>
  <body>
    <main id="api"><noscript>The reference needs JavaScript; the document itself is at <a href="/v1/openapi.json">/v1/openapi.json</a>.</noscript></main>
    <script src="/v1/docs/swagger-ui-bundle.js"></script>
    <script src="/v1/docs/start.js"></script>
  </body>
</html>
`;

/** No validator badge (it would call validator.swagger.io) and no URL bar: this server's document only. */
const START = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/v1/openapi.json',
    dom_id: '#api',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
});
`;

/** The files of swagger-ui-dist the page uses, by the name it asks for. */
const VENDOR: Readonly<Record<string, string>> = {
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
};

function secure(res: Response): void {
  res.set('Content-Security-Policy', CSP);
  res.set('X-Content-Type-Options', 'nosniff');
  res.set('Referrer-Policy', 'no-referrer');
  res.set('X-Frame-Options', 'DENY');
}

export function apiDocsRoutes(router: Router): void {
  router.get('/v1/docs', (_req, res) => {
    secure(res);
    res.set('Cache-Control', 'no-cache').type('html').send(PAGE);
  });
  router.get('/v1/docs/:file', (req, res, next) => {
    const file = req.params['file'];
    secure(res);
    if (file === 'start.js') {
      res.set('Cache-Control', 'no-cache').type('application/javascript').send(START);
      return;
    }
    const type = file === undefined ? undefined : VENDOR[file];
    if (file === undefined || type === undefined) {
      res.status(404).json(errorBody('not_found', `no file ${file ?? ''} in the API reference`));
      return;
    }
    // Revalidated (ETag, Last-Modified): an upgrade of swagger-ui-dist is picked up at once.
    res.sendFile(path.join(DIST, file), { headers: { 'Content-Type': type }, maxAge: 0 }, (err) => {
      if (err instanceof Error) next(err);
    });
  });
}
