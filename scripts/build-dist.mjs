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
import { createRequire, isBuiltin } from 'node:module';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');
/**
 * Third-party code the CLI loads on its start, each bundled on its own below into one CommonJS
 * file, their code unchanged: one file is read and compiled where the package's dozens were
 * resolved and read one by one. Each source module says why.
 */
const BUNDLED = [
  // tuf-js and its models, for `upcat verify` (src/verify/tuf.ts).
  {
    entry: path.join(src, 'verify', 'tuf-vendor.ts'),
    out: path.join(dist, 'vendor', 'tuf.cjs'),
    lazy: {
      // tuf-js's diagnostic log: the package itself only when DEBUG is set, as it would print
      // nothing otherwise (it, supports-color and node:tty were 3 ms of every verify's start).
      debug: (real) =>
        `module.exports = process.env.DEBUG ? require(${real}) : () => function log() {};`,
      // Matches a delegation's `paths` patterns; upcat's catalog delegates by hash prefix, so it
      // is loaded at its first use only (it and brace-expansion were 72 KB of the bundle's 195).
      minimatch: (real) =>
        `module.exports = { minimatch: (...args) => require(${real}).minimatch(...args) };`,
    },
  },
  // commander, which every command loads first (src/cli/commander.ts).
  {
    entry: path.join(src, 'cli', 'commander.ts'),
    out: path.join(dist, 'cli', 'commander.js'),
    lazy: {
      // For subcommands that are programs of their own, which upcat has none of: loaded when
      // first touched (it was 1.5-3 ms of every start).
      'node:child_process': (real) =>
        `module.exports = new Proxy({}, { get: (_, key) => require(${real})[key] });`,
    },
  },
];

const modules = (await readdir(src, { recursive: true }))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => path.join(src, f))
  .filter((f) => !BUNDLED.some((b) => b.entry === f));

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

for (const { entry, out, lazy = {} } of BUNDLED)
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    plugins: [loadedAtFirstUse(lazy, path.dirname(out))],
    logLevel: 'warning',
  });

/**
 * Packages left out of a bundle and put in its place: a small module, written by `lazy[name]`,
 * that requires the package when it is first needed: Node's own module as it is named, any
 * other from node_modules, at the path the importing package itself resolves (its own
 * version), relative to the bundle's folder.
 */
function loadedAtFirstUse(lazy, outDir) {
  const names = Object.keys(lazy);
  return {
    name: 'loaded-at-first-use',
    setup(b) {
      b.onResolve({ filter: /.*/, namespace: 'at-first-use' }, (args) => ({
        path: args.path,
        external: true,
      }));
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (!names.includes(args.path)) return undefined;
        const real = createRequire(path.join(args.resolveDir, 'index.js')).resolve(args.path);
        const relative = isBuiltin(real)
          ? real
          : path.relative(outDir, real).split(path.sep).join('/');
        return { path: args.path, namespace: 'at-first-use', pluginData: relative };
      });
      b.onLoad({ filter: /.*/, namespace: 'at-first-use' }, (args) => ({
        contents: lazy[args.path](JSON.stringify(args.pluginData)),
        loader: 'js',
      }));
    },
  };
}
