/**
 * node-forge, loaded at its first use rather than with the module that uses it: it is some forty
 * CommonJS modules to compile (~40 ms of CPU), which `upcat verify` of a catalog with no signed
 * payload, and every command that only imports the CMS checks, would otherwise pay at start
 * (issue 16). forge is CommonJS, so `require` gives the one instance an `import` would.
 */
import { createRequire } from 'node:module';
import type Forge from 'node-forge';

const require = createRequire(import.meta.url);
let forge: typeof Forge | undefined;

export function loadForge(): typeof Forge {
  forge ??= require('node-forge') as typeof Forge;
  return forge;
}
