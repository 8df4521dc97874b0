/**
 * `npm run build`, after tsc has checked the types: compiles src/ into dist/ as CommonJS, one
 * file per module (not bundled), which is what `upcat` (bin/upcat.js) runs, the server included.
 *
 * Why CommonJS, when the source is ES modules: every `upcat` command starts by loading its
 * modules, and on Node 20 the ES module loader (resolving, linking, the CommonJS export scan of
 * each package) cost about 12 ms of a 41 ms start above `node -e 0` (docs/BENCHMARKS.md, issue
 * 16 round nine). `require` of the same files costs a fraction of that. One bundle was tried
 * and is slower: V8 pre-parses the whole file on every start.
 *
 * What changes between the two forms, and how it is kept the same:
 * - `import.meta.url` is each file's own URL (from `__filename`), so paths relative to a module
 *   resolve as they did (dist/ mirrors src/);
 * - `import()` becomes a `require` in a promise, so a command's modules still load only when it
 *   runs, and through the same loader;
 * - a default import of a CommonJS package is its `module.exports`, as Node's ES module loader
 *   gives it (esbuild's node mode);
 * - every file is strict, as ES modules are.
 * Top-level await has no CommonJS form, and esbuild refuses it: src/ does not use it.
 * The tests run src/ through tsx as ES modules; the end-to-end tests run this build (bin/upcat.js).
 */
import { writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');
/** Bundled on its own below (src/verify/tuf.ts says why). */
const TUF_VENDOR = path.join(src, 'verify', 'tuf-vendor.ts');

const modules = (await readdir(src, { recursive: true }))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => path.join(src, f))
  .filter((f) => f !== TUF_VENDOR);

await build({
  entryPoints: modules,
  outdir: dist,
  outbase: src,
  bundle: false,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  define: { 'import.meta.url': '__upcat_module_url' },
  banner: {
    js: '"use strict";\nvar __upcat_module_url = require("node:url").pathToFileURL(__filename).href;',
  },
  supported: { 'dynamic-import': false },
  logLevel: 'warning',
});
// dist/ is inside a package of ES modules ("type": "module"): this makes its .js files CommonJS.
writeFileSync(path.join(dist, 'package.json'), '{ "type": "commonjs" }\n');

await build({
  entryPoints: [TUF_VENDOR],
  outfile: path.join(dist, 'vendor', 'tuf.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
});
