import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * tuf-js, @tufjs/models and @tufjs/canonical-json as `upcat verify` uses them, from one CommonJS
 * file that `npm run build` bundles with esbuild (entry: tuf-vendor.ts), loaded with `require`.
 *
 * Why (issue 16, `upcat verify --server` against `node -e 0`): imported from ES modules, the
 * packages' 40-odd CommonJS files each went through Node's ESM resolution and its CommonJS export
 * scan (cjs-module-lexer, recursively through every re-export), about 58 ms of CPU on this
 * machine where `require` of one bundled file takes about 23 ms. `require` and not `import` of the
 * bundle: Node 20 scans a CommonJS file imported from ESM for its exports, which for a file this
 * size costs more than the bundling saves.
 *
 * The code is tuf-js's own, unchanged; only how it is loaded differs. The path is the same from
 * src/verify (tests, through tsx) and dist/verify, so the suite runs against the bundle that ships.
 * Types are the packages' own (through tuf-vendor.ts): a class from here and the same class
 * imported from the package are different classes at run time, so the verifier's metadata
 * objects and tuf-js's errors must all come from here (eslint forbids value imports of the
 * packages under src/verify).
 */
export type Tuf = typeof import('./tuf-vendor.js');

/** The same file from src/verify (tests, through tsx) and from dist/verify. */
const BUNDLE = fileURLToPath(new URL('../../dist/vendor/tuf.cjs', import.meta.url));

function loadBundle(): Tuf {
  try {
    return createRequire(import.meta.url)(BUNDLE) as Tuf;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND')
      throw new Error(`${BUNDLE} is missing: run \`npm run build\``, { cause: err });
    throw err;
  }
}

export const tuf: Tuf = loadBundle();
