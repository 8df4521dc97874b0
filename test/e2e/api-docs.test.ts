import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { createApp } from '../../src/server/app.js';
import { openApiDocument } from '../../src/server/openapi/index.js';
import { makeSite } from '../helpers/site.js';
import { launch } from './console-browser.js';

/**
 * The API reference page (issue 14 item 2) in Debian's chromium: Swagger UI, served by upcat
 * itself under its CSP, renders one entry per operation of /v1/openapi.json, and the page asks
 * nothing of any other origin (it works offline).
 */
const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete'] as const;

test('the API reference at /v1/docs renders every operation of /v1/openapi.json in chromium, from this server alone', async (t) => {
  t.timeout(120_000);
  const ctx = await makeSite('sqlite');
  t.teardown(() => ctx.cleanup());
  const server = http.createServer(createApp(ctx.site));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const browser = await launch(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    // A CSP refusal or a failed load is an error on the console.
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${base}/v1/docs`);
  await page.getByRole('heading', { name: /^upcat/ }).waitFor();
  // Each operation's expand button is named "<method> <path>".
  const operations = page.getByRole('button', { name: /^(get|head|post|put|patch|delete) \/\S*$/ });
  await operations.first().waitFor();

  const expected = Object.entries(openApiDocument().paths ?? {})
    .flatMap(([p, item]) =>
      METHODS.filter((m) => (item as Record<string, unknown>)[m] !== undefined).map(
        (m) => `${m.toUpperCase()} ${p}`,
      ),
    )
    .sort();
  const shown = (
    await operations.evaluateAll((buttons) =>
      buttons.map((b) => b.getAttribute('aria-label') ?? ''),
    )
  )
    // Swagger UI puts zero-width spaces after slashes (line breaks in long paths).
    .map((name) => name.replace(/\u200b/g, '').replace(/^\w+/, (m: string) => m.toUpperCase()))
    .sort();
  t.deepEqual(shown, expected);

  t.deepEqual(problems, [], 'no script error, no refused or failed load');
  t.deepEqual(
    requests.filter((url) => !url.startsWith(`${base}/`)),
    [],
    'every request goes to this server',
  );
  t.true(requests.includes(`${base}/v1/openapi.json`));
});
