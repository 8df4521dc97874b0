import { randomBytes } from 'node:crypto';
import type { Site } from '../../src/app.js';
import type { TokenScope } from '../../src/site/tokens.js';

/** A fresh API token of the scope (named uniquely unless a name is given); returns the secret. */
export async function tokenOf(
  site: Pick<Site, 'tokens'>,
  scope: TokenScope,
  name = `test-${scope}-${randomBytes(3).toString('hex')}`,
): Promise<string> {
  return (await site.tokens.create({ name, scope }, 'test')).token;
}

/** The same, as the `Authorization` header value. */
export async function bearer(
  site: Pick<Site, 'tokens'>,
  scope: TokenScope = 'admin',
): Promise<string> {
  return `Bearer ${await tokenOf(site, scope)}`;
}
