import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Updater } from 'tuf-js';
import type { ExecutionContext } from 'ava';
import type { Site } from '../../src/app.js';
import { revisionFromXml } from '../../src/catalog/update-xml.js';
import { startServer } from '../../src/server/serve.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';

const run = promisify(execFile);

/** A tuf-js client that trusts the site's first root, as an endpoint pinned at install does. */
async function client(site: Site, baseUrl: string): Promise<Updater> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-client-'));
  await mkdir(path.join(dir, 'targets'));
  await copyFile(
    path.join(site.signing?.repoDir ?? '', '1.root.json'),
    path.join(dir, 'root.json'),
  );
  return new Updater({
    metadataDir: dir,
    metadataBaseUrl: `${baseUrl}/tuf`,
    targetDir: path.join(dir, 'targets'),
    targetBaseUrl: `${baseUrl}/tuf/targets`,
    config: { fetchRetry: 0, fetchTimeout: 5000 },
  });
}

async function serving(site: Site, t: ExecutionContext): Promise<string> {
  const running = await startServer(site, { host: '127.0.0.1', port: 0 });
  t.teardown(() => running.close());
  return `http://127.0.0.1:${(running.server.address() as AddressInfo).port}`;
}

dbTest(
  'a published revision is a TUF target that tuf-js verifies and downloads, with its document and payload',
  async (t, { site }) => {
    const body = 'client build bytes';
    const pub = await publishBytes(site, body, fileManifest('tool.bin', { prerequisites: [] }));
    const url = await serving(site, t);
    const updater = await client(site, url);
    await updater.refresh();

    const docInfo = await updater.getTargetInfo(`updates/${pub.updateId}.xml`);
    t.truthy(docInfo, 'the update document is a target');
    t.like(docInfo?.custom, {
      updateId: pub.updateId,
      revision: 1,
      classification: 'Updates',
      kind: 'update',
    });
    const docPath = await updater.downloadTarget(docInfo!);
    const doc = revisionFromXml(await readFile(docPath, 'utf8'));
    t.is(doc.updateId, pub.updateId);
    t.is(doc.revisionNumber, 1);
    t.deepEqual(doc.files, [
      { name: 'tool.bin', size: body.length, sha1: pub.sha1, sha256: pub.sha256, kind: 'file' },
    ]);
    t.deepEqual(doc.isInstallable, {
      kind: 'Platform',
      Name: 'linux',
    } as unknown as typeof doc.isInstallable);

    const payloadInfo = await updater.getTargetInfo(`payloads/${pub.sha256}`);
    t.like(payloadInfo?.custom, {
      updateId: pub.updateId,
      revision: 1,
      kind: 'payload',
      fileName: 'tool.bin',
    });
    const payloadPath = await updater.downloadTarget(payloadInfo!);
    t.is(
      createHash('sha256')
        .update(await readFile(payloadPath))
        .digest('hex'),
      pub.sha256,
    );
  },
);

dbTest(
  'a new revision replaces the document target; expiry removes the update from the signed catalog',
  async (t, { site }) => {
    const first = await publishBytes(site, 'v1 bytes', fileManifest('tool.bin'));
    const second = await publishBytes(
      site,
      'v1 bytes',
      fileManifest('tool.bin', { description: 'revised' }),
    );
    t.is(second.revision, 2);
    const url = await serving(site, t);
    const updater = await client(site, url);
    await updater.refresh();
    t.like((await updater.getTargetInfo(`updates/${first.updateId}.xml`))?.custom, { revision: 2 });

    await site.expire.expire(first.updateId, 'test');
    const later = await client(site, url);
    await later.refresh();
    t.is(await later.getTargetInfo(`updates/${first.updateId}.xml`), undefined);
    t.is(await later.getTargetInfo(`payloads/${first.sha256}`), undefined);
  },
);

dbTest(
  'the catalog catches up when signing was interrupted after a commit',
  async (t, { site }) => {
    await publishBytes(site, 'one', fileManifest('tool.bin'));
    // As if the process died between the database commit and the TUF write: the repository lags.
    const { rm } = await import('node:fs/promises');
    await rm(site.signing?.repoDir ?? '', { recursive: true, force: true });
    const second = await publishBytes(site, 'two', fileManifest('tool.bin', { product: 'Other' }));
    const url = await serving(site, t);
    const updater = await client(site, url);
    await updater.refresh();
    t.truthy(await updater.getTargetInfo(`payloads/${second.sha256}`));
    t.truthy(
      await updater.getTargetInfo(`payloads/${createHash('sha256').update('one').digest('hex')}`),
    );
  },
);

dbTest(
  'each payload has a CMS signature that openssl verifies against /pki/ca.pem, and rejects after a byte changes',
  async (t, { site, home }) => {
    const body = 'signed payload';
    const pub = await publishBytes(site, body, fileManifest('tool.bin'));
    const url = await serving(site, t);
    const ca = await (await fetch(`${url}/pki/ca.pem`)).text();
    t.regex(ca, /BEGIN CERTIFICATE/);
    const sig = Buffer.from(await (await fetch(`${url}/content/${pub.sha256}.p7s`)).arrayBuffer());
    const files = {
      ca: path.join(home, 'ca.pem'),
      sig: path.join(home, 'p.p7s'),
      payload: path.join(home, 'p.bin'),
    };
    await writeFile(files.ca, ca);
    await writeFile(files.sig, sig);
    await writeFile(files.payload, body);
    const verify = (): Promise<unknown> =>
      run('openssl', [
        'cms',
        '-verify',
        '-binary',
        '-inform',
        'DER',
        '-in',
        files.sig,
        '-content',
        files.payload,
        '-CAfile',
        files.ca,
        '-purpose',
        'any',
        '-out',
        '/dev/null',
      ]);
    await t.notThrowsAsync(verify);
    await writeFile(files.payload, 'signed payloaD');
    await t.throwsAsync(verify);
  },
);

dbTest(
  'timestamp.json is answered 304 for a current client and changes after a publish',
  async (t, { site }) => {
    await publishBytes(site, 'first', fileManifest('tool.bin'));
    const url = await serving(site, t);
    const first = await fetch(`${url}/tuf/timestamp.json`);
    t.is(first.status, 200);
    const etag = first.headers.get('etag') ?? '';
    t.regex(etag, /^"[0-9a-f]{32}"$/);
    t.is(first.headers.get('cache-control'), 'no-cache');
    const again = await fetch(`${url}/tuf/timestamp.json`, { headers: { 'If-None-Match': etag } });
    t.is(again.status, 304);

    await publishBytes(site, 'second', fileManifest('tool.bin', { product: 'Second' }));
    const changed = await fetch(`${url}/tuf/timestamp.json`, {
      headers: { 'If-None-Match': etag },
    });
    t.is(changed.status, 200);
    t.not(changed.headers.get('etag'), etag);
    const body = (await changed.json()) as { signed: { version: number } };
    t.true(body.signed.version > 1);
  },
);
