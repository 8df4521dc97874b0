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
