import { createReadStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Site } from '../../src/app.js';
import type { PublishResult } from '../../src/publish/publish-service.js';
import { buildPackage } from '../../src/publish/package.js';

/** A valid manifest for a single-file payload named `fileName`; override any field. */
export function fileManifest(
  fileName: string,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    title: 'Contoso Tool 1.0',
    product: 'Contoso Tool',
    classification: 'Updates',
    version: '1.0',
    handler: { type: 'commandLine', program: fileName, arguments: '/quiet' },
    isInstallable: { Platform: { Name: 'linux' } },
    ...over,
  };
}

/** Publishes bytes as a file payload. */
export function publishBytes(
  site: Site,
  bytes: string | Buffer,
  manifest: Record<string, unknown>,
  fileName = 'tool.bin',
): Promise<PublishResult> {
  return site.publish.publish({
    source: Readable.from([Buffer.from(bytes)]),
    fileName,
    manifest,
    actor: 'test',
  });
}

/** Builds a small client package under `home` and returns its path. */
export async function makePackage(home: string, version: string, extra = ''): Promise<string> {
  const dir = path.join(home, `build-${version}`);
  await mkdir(path.join(dir, 'bin'), { recursive: true });
  await writeFile(path.join(dir, 'setup.sh'), `#!/bin/sh\necho install ${version}\n`, {
    mode: 0o755,
  });
  await writeFile(path.join(dir, 'bin', 'client'), `client ${version} ${extra}\n`, { mode: 0o755 });
  const out = path.join(home, `client-${version}.zip`);
  await buildPackage({ dir, name: 'Contoso Client', version, out });
  return out;
}

export function publishFile(
  site: Site,
  file: string,
  manifest: Record<string, unknown>,
): Promise<PublishResult> {
  return site.publish.publish({
    source: createReadStream(file),
    fileName: path.basename(file),
    manifest,
    actor: 'test',
  });
}

/** Row counts of every catalog table plus the pool's files: "nothing changed" is this staying equal. */
export async function snapshot(site: Site): Promise<Record<string, number | string[]>> {
  const out: Record<string, number | string[]> = {};
  for (const table of [
    'updates',
    'revisions',
    'files',
    'relationships',
    'blobs',
    'catalog_versions',
    'audit_log',
  ]) {
    const [row] = (await site.db(table).count({ n: '*' })) as Array<{ n: number | string }>;
    out[table] = Number(row?.n ?? 0);
  }
  out['catalogVersion'] = await site.catalog.catalogVersion();
  const { readdir } = await import('node:fs/promises');
  const files: string[] = [];
  for (const sub of ['pool', 'tmp']) {
    const dir = path.join(site.pool.root, sub);
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile())
        files.push(path.join(path.relative(site.pool.root, entry.parentPath), entry.name));
    }
  }
  out['poolFiles'] = files.sort();
  return out;
}
