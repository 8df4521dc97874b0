import { chmod, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { SiteConfig } from '../config/schema.js';
import { errnoCode } from '../errors.js';

/**
 * A site's files are its user's alone (issue 13 item 7): the database holds client secret
 * hashes and the audit log, signing/ holds keys, packages/ payloads not yet published. From
 * here on this process creates files 0600 and folders 0700 whatever mode a writer asks for
 * (umask 077), and the data folders and the SQLite files of a site made before this are
 * tightened. The site home itself is left alone: it may be a folder the operator shares.
 * Nothing is lost for clients: they read everything through the server, never from the disk.
 */
export async function keepSitePrivate(config: SiteConfig): Promise<void> {
  process.umask(0o077);
  for (const dir of Object.values(config.dirs)) await tighten(dir, 0o700);
  const catalog = await readdir(config.dirs.catalog).catch(() => [] as string[]);
  for (const name of catalog.filter((n) => /\.db(-wal|-shm|-journal)?$/.test(n)))
    await tighten(path.join(config.dirs.catalog, name), 0o600);
}

async function tighten(file: string, mode: number): Promise<void> {
  try {
    await chmod(file, mode);
  } catch (err) {
    // Gone, or not ours to change (a folder another user made): leave it as it is.
    const code = errnoCode(err);
    if (code !== 'ENOENT' && code !== 'EPERM') throw err;
  }
}
