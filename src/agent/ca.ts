import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, UpcatError } from '../errors.js';
import { verifyDetachedCms } from './cms-verify.js';
import type { SiteClient } from './site-client.js';
import { writePrivateFile } from './state-dir.js';

const MAX_CA_BYTES = 64 * 1024;
const MAX_SIGNATURE_BYTES = 256 * 1024;

/**
 * The site CA certificate that payload signatures chain to: provisioned (`--ca-cert` or
 * agent.json `caCert`), else fetched from /pki/ca.pem once and pinned in `<state>/ca.pem`
 * (trust on first use, like the TUF root; docs/AGENT.md).
 */
export async function siteCa(
  site: SiteClient,
  stateDir: string,
  provisioned: string | undefined,
): Promise<string> {
  if (provisioned !== undefined) return readFile(provisioned, 'utf8');
  const pinned = path.join(stateDir, 'ca.pem');
  try {
    return await readFile(pinned, 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  const pem = (await site.text('/pki/ca.pem', MAX_CA_BYTES)).toString('utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new UpcatError(
      'integrity',
      'the site answered /pki/ca.pem with something that is not a PEM certificate',
    );
  await writePrivateFile(pinned, pem);
  return pem;
}

/** Fetches `/content/<sha256>.p7s` and checks it against the site CA. */
export async function verifyPayloadSignature(
  site: SiteClient,
  stateDir: string,
  provisioned: string | undefined,
  sha256: string,
): Promise<void> {
  const ca = await siteCa(site, stateDir, provisioned);
  const der = await site.text(`/content/${sha256}.p7s`, MAX_SIGNATURE_BYTES);
  verifyDetachedCms(der, sha256, ca);
}
