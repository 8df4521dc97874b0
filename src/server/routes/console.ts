import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Response, type Router } from 'express';

/** The project root, from src/server/routes or dist/server/routes alike. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The page and its stylesheet, as committed. */
const STATIC_DIR = path.join(ROOT, 'console', 'static');
/** The compiled browser modules (`npm run build`, run by `npm install`). */
const SCRIPT_DIR = path.join(ROOT, 'dist', 'console', 'js');

/**
 * What the console's pages may do: load only their own scripts and styles, talk only to this
 * server, never be framed (clickjacking), never run inline script. The views build the DOM from
 * data with text nodes only (console/src/dom.ts), so this is a second wall, not the first.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function secure(res: Response): void {
  res.set('Content-Security-Policy', CSP);
  res.set('X-Content-Type-Options', 'nosniff');
  res.set('Referrer-Policy', 'no-referrer');
  res.set('X-Frame-Options', 'DENY');
}

const STATIC_OPTIONS = {
  index: false,
  dotfiles: 'ignore' as const,
  fallthrough: true,
  // Revalidated on every load (ETag): a new build is picked up at once, unchanged files cost a 304.
  cacheControl: true,
  maxAge: 0,
  setHeaders: (res: Response) => secure(res),
};

/**
 * The administrator's web console (issue 14 item 5) at /console: static files only. Everything
 * it shows and changes goes through the public API under /v1 with the logged-in session.
 */
export function consoleRoutes(router: Router): void {
  // One route for both spellings: routing is not strict, so '/console' also matches '/console/'.
  router.get('/console', (req, res) => {
    if (!req.path.endsWith('/')) {
      res.redirect(301, '/console/');
      return;
    }
    secure(res);
    res.set('Cache-Control', 'no-cache');
    res.sendFile(path.join(STATIC_DIR, 'index.html'));
  });
  router.use('/console/js', express.static(SCRIPT_DIR, STATIC_OPTIONS));
  router.use('/console', express.static(STATIC_DIR, STATIC_OPTIONS));
}
