import { createRequire } from 'node:module';

/** The site version is the package version: one number for server, CLI and agent builds. */
const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
export const SITE_VERSION: string = pkg.version;
