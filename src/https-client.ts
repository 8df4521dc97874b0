/**
 * What the CLI's HTTPS clients (cli/remote.ts, verify/http-get.ts) share: node:https, loaded at
 * its first use, since it brings TLS's modules, about 1 ms of every CLI start (issue 16), which
 * a command talking to an http:// server never needs; and what to tell a user whose server's
 * certificate comes from a CA this process does not trust.
 */
import { createRequire } from 'node:module';
import type Https from 'node:https';

const require = createRequire(import.meta.url);
let https: typeof Https | undefined;

export function loadHttps(): typeof Https {
  https ??= require('node:https') as typeof Https;
  return https;
}

/** OpenSSL's codes for a certificate chain that ends at no CA this process trusts. */
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/**
 * What to add to an error whose cause is a server certificate from a CA this process does not
 * trust (a site's own CA, a company's): how to trust it. Empty for any other error.
 */
export function untrustedCaHint(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && UNTRUSTED.has(code)
    ? ' (to trust a private CA, set NODE_EXTRA_CA_CERTS to its certificate, a PEM file)'
    : '';
}
