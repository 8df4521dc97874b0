import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { chromium, type Browser, type Page } from 'playwright-core';
import { sharedSigningDir } from '../helpers/site.js';

/**
 * What the browser tests of the console share (test/e2e/console*.test.ts): Debian's chromium
 * driven by playwright-core, the axe-core check, logging in through the form, and the
 * screenshots of docs/CONSOLE.md (UPDATE_SCREENSHOTS=1 rewrites them).
 */
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const PASSWORD = 'correct horse battery staple';
const SCREENSHOTS = process.env['UPDATE_SCREENSHOTS'] === '1';
const axeSource = await readFile(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
);

export async function launch(t: ExecutionContext): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  t.teardown(() => browser.close());
  return browser;
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/** axe-core on the page as it is now: the serious and critical violations, described. */
async function axeProblems(page: Page): Promise<string[]> {
  // evaluate() runs outside the page's CSP (which allows no injected script).
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run: () => Promise<{ violations: unknown[] }> } }
    ).axe;
    return (await axe.run()).violations;
  });
  return (violations as AxeViolation[])
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
    );
}

/** No serious accessibility problem; with UPDATE_SCREENSHOTS=1, the page's picture for the docs. */
export async function checkPage(
  t: ExecutionContext,
  page: Page,
  name: string,
  screenshot = true,
): Promise<void> {
  await page.waitForLoadState('networkidle');
  t.deepEqual(await axeProblems(page), [], `axe on ${name}`);
  if (SCREENSHOTS && screenshot)
    await page.screenshot({ path: path.join('docs', 'console', `${name}.png`), fullPage: true });
}

/** Nothing wider than the window: the layout holds at this width (no sideways scrolling). */
export async function fitsWidth(page: Page): Promise<boolean> {
  // A string: this project's types have no DOM; the expression runs in the page.
  return (await page.evaluate(
    'document.documentElement.scrollWidth <= document.documentElement.clientWidth',
  )) as boolean;
}

/** The focused element's text and outline style (`none` when focus would be invisible). */
export async function focused(page: Page): Promise<{ text: string; outline: string }> {
  return (await page.evaluate(
    '(() => { const e = document.activeElement; return e === null ? { text: "", outline: "none" } : { text: e.textContent ?? "", outline: getComputedStyle(e).outlineStyle }; })()',
  )) as { text: string; outline: string };
}

export async function logIn(
  browser: Browser,
  base: string,
  name: string,
  width = 1280,
): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${base}/console/`);
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  return page;
}

/** A fresh site home with the shared test keys, removed after the test, and its environment. */
export async function consoleHome(
  t: ExecutionContext,
  prefix: string,
): Promise<{ home: string; env: NodeJS.ProcessEnv }> {
  const home = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  await cp(await sharedSigningDir(), path.join(home, 'signing'), { recursive: true });
  return {
    home,
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], UPCAT_HOME: home },
  };
}
