/**
 * What `upcat verify` takes from tuf-js and its models: the entry point of the CommonJS bundle
 * that `npm run build` makes of them with esbuild (dist/vendor/tuf.cjs). Never imported at run
 * time; tuf.ts loads the bundle and takes its types from here.
 */
export { Updater } from 'tuf-js';
export { DownloadHTTPError } from 'tuf-js/dist/error.js';
export { Key, Metadata, MetadataKind, MetaFile } from '@tufjs/models';
export { getPublicKey } from '@tufjs/models/dist/utils/key.js';
export { canonicalize } from '@tufjs/canonical-json';
