import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { tuf } from '../../src/verify/tuf.js';
import '../../src/verify/verify-catalog.js';

/**
 * `upcat verify` takes tuf-js and its models from the one CommonJS file the build bundles
 * (src/verify/tuf.ts, issue 16: loading the packages' files through the ES module loader was a
 * seventh of a `verify --server` run). Loading the verifier must not load the packages' own
 * files: their classes would be other classes than the bundle's, and the load time would be back.
 */
test('verify loads tuf-js from dist/vendor/tuf.cjs and none of the packages’ own files', (t) => {
  const loaded = Object.keys(createRequire(import.meta.url).cache);
  const bundle = fileURLToPath(new URL('../../dist/vendor/tuf.cjs', import.meta.url));
  t.true(loaded.includes(bundle), `${bundle} is loaded`);
  t.deepEqual(
    loaded.filter((file) => /node_modules[\\/](tuf-js|@tufjs)[\\/]/.test(file)),
    [],
  );
  // What the verifier takes from it is there, as the packages export it.
  for (const name of [
    'Updater',
    'DownloadHTTPError',
    'Key',
    'Metadata',
    'MetaFile',
    'getPublicKey',
    'canonicalize',
  ] as const)
    t.is(typeof tuf[name], 'function', name);
  t.is(String(tuf.MetadataKind.Targets), 'targets');
  t.is(tuf.canonicalize({ b: 1, a: [true, 'x'] }), '{"a":[true,"x"],"b":1}');
});

/** The package files loaded so far whose folder is node_modules/<name>. */
function loadedFrom(name: string): string[] {
  const pattern = new RegExp(`node_modules[\\\\/]${name}[\\\\/]`);
  return Object.keys(createRequire(import.meta.url).cache).filter((f) => pattern.test(f));
}

/**
 * Two of tuf-js's dependencies are left out of the bundle and loaded when first used
 * (scripts/build-dist.mjs, issue 16 round ten): minimatch, for a delegation's `paths` patterns,
 * which upcat's own catalog does not use (it delegates by hash prefix), and debug, tuf-js's
 * diagnostic log, only when DEBUG is set. A catalog that delegates by path must still verify.
 */
test('minimatch is loaded at the first path pattern, and matches as tuf-js has it match', (t) => {
  t.deepEqual(loadedFrom('minimatch'), [], 'not loaded with the verifier');
  if (process.env['DEBUG'] === undefined)
    t.deepEqual(loadedFrom('debug'), [], 'nor tuf-js’s log, DEBUG being unset');
  const expires = '2030-01-01T00:00:00Z';
  const targets = tuf.Metadata.fromJSON(tuf.MetadataKind.Targets, {
    signed: {
      _type: 'targets',
      spec_version: '1.0.31',
      version: 1,
      expires,
      targets: {},
      delegations: {
        keys: {},
        roles: [
          { name: 'payloads', keyids: [], threshold: 1, terminating: false, paths: ['payloads/*'] },
          { name: 'docs', keyids: [], threshold: 1, terminating: true, paths: ['updates/*.xml'] },
        ],
      },
    },
    signatures: [],
  });
  const delegations = targets.signed.delegations;
  if (delegations === undefined) return t.fail('no delegations read');
  const rolesOf = (target: string): string[] =>
    [...delegations.rolesForTarget(target)].map((r) => r.role);
  t.deepEqual(rolesOf('payloads/abc'), ['payloads']);
  t.deepEqual(rolesOf('updates/1.xml'), ['docs']);
  t.deepEqual(rolesOf('updates/1.json'), []);
  // `*` does not cross a folder, as the TUF specification's fnmatch-like patterns have it.
  t.deepEqual(rolesOf('payloads/a/b'), []);
  t.true(loadedFrom('minimatch').length > 0, 'loaded from node_modules at its first use');
});
