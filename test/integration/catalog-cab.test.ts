import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import type { Site } from '../../src/app.js';
import { createApp } from '../../src/server/app.js';
import { CatalogCabCache } from '../../src/windows/sdp/catalog-cab.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { validateCatalog } from '../helpers/sdp-schema.js';
import { dbTest } from '../helpers/site.js';

const run = promisify(execFile);

function binary(res: request.Response, done: (err: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

const windowsTool = (n: number) =>
  fileManifest(`tool-${n}.exe`, {
    title: `Contoso Tool ${n}.0`,
    product: `Contoso Tool ${n}`,
    version: `${n}.0`,
    isInstallable: { Platform: { Name: 'windows' } },
    isInstalled: {
      FileVersion: {
        Path: 'Contoso\\tool.exe',
        Csidl: 38,
        Comparison: 'GreaterThanOrEqualTo',
        Version: `${n}.0`,
      },
    },
  });

/** Checks a served cabinet with independent tools: gcab extracts it, osslsigncode verifies it, xmllint validates the catalog. */
async function checkCab(
  site: Site,
  cab: Buffer,
  dir: string,
): Promise<{ xml: string; verify: string }> {
  const file = path.join(dir, `served-${Date.now()}.cab`);
  await writeFile(file, cab);
  const listing = (await run('gcab', ['-l', file])).stdout;
  const out = await mkdtemp(path.join(dir, 'x-'));
  await run('gcab', ['-x', '-C', out, file]);
  const caFile = path.join(dir, 'site-ca.pem');
  await writeFile(caFile, site.signing?.caCertificatePem ?? '');
  const verify = await run('osslsigncode', ['verify', '-CAfile', caFile, '-in', file]);
  const xml = await readFile(path.join(out, 'upcat.xml'), 'utf8');
  if (!listing.includes('upcat.xml')) throw new Error(`gcab -l: ${listing}`);
  return { xml, verify: verify.stdout };
}

dbTest(
  'GET /catalog/v1/upcat.cab: a signed catalog CAB that gcab, osslsigncode and xmllint accept; ETag, HEAD, 304; rebuilt only when the catalog changes',
  async (t, { site, home }) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-cab-'));
    try {
      await publishBytes(site, 'tool one', windowsTool(1), 'tool-1.exe');
      await publishBytes(site, 'tool two', windowsTool(2), 'tool-2.exe');
      const app = createApp(site);

      const first = await request(app)
        .get('/catalog/v1/upcat.cab')
        .buffer(true)
        .parse(binary)
        .expect(200);
      t.is(first.headers['content-type'], 'application/vnd.ms-cab-compressed');
      t.is(first.headers['cache-control'], 'no-cache');
      const etag = first.headers['etag'] ?? '';
      t.regex(etag, /^"[0-9a-f]{64}"$/);
      const checked = await checkCab(site, first.body as Buffer, dir);
      t.regex(checked.verify, /Signature verification: ok/);
      const current = /Current message digest\s*:\s*(\S+)/.exec(checked.verify)?.[1];
      t.is(current, /Calculated message digest\s*:\s*(\S+)/.exec(checked.verify)?.[1]);
      const valid = await validateCatalog(checked.xml);
      t.is(valid.count, 2);
      t.deepEqual(valid.invalid, []);

      const head = await request(app).head('/catalog/v1/upcat.cab').expect(200);
      t.is(head.headers['etag'], etag);
      t.is(Number(head.headers['content-length']), (first.body as Buffer).length);
      await request(app).get('/catalog/v1/upcat.cab').set('If-None-Match', etag).expect(304);

      // Not rebuilt per request: the same file, untouched, serves again.
      const cabDir = path.join(home, 'catalog', 'cab');
      const files = (await readdir(cabDir)).filter((n) => n.endsWith('.cab'));
      t.is(files.length, 1);
      const before = await stat(path.join(cabDir, files[0] ?? ''));
      const again = await Promise.all(
        Array.from({ length: 8 }, () => request(app).get('/catalog/v1/upcat.cab').expect(200)),
      );
      t.deepEqual([...new Set(again.map((r) => r.headers['etag']))], [etag]);
      t.is((await stat(path.join(cabDir, files[0] ?? ''))).mtimeMs, before.mtimeMs);

      // A publish moves the catalog version: the next request builds the new catalog once.
      await publishBytes(site, 'tool three', windowsTool(3), 'tool-3.exe');
      const responses = await Promise.all(
        Array.from({ length: 6 }, () =>
          request(app).get('/catalog/v1/upcat.cab').buffer(true).parse(binary).expect(200),
        ),
      );
      const etags = [...new Set(responses.map((r) => r.headers['etag']))];
      t.is(etags.length, 1);
      t.not(etags[0], etag);
      t.is(responses[0]?.headers['x-upcat-catalog-version'], '3');
      const third = await checkCab(site, responses[0]?.body as Buffer, dir);
      t.is((await validateCatalog(third.xml)).count, 3);
      t.is((await readdir(cabDir)).filter((n) => n.endsWith('.cab')).length, 2);
      await request(app).get('/catalog/v1/upcat.cab').set('If-None-Match', etag).expect(200);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

dbTest(
  'two servers sharing a site build the catalog CAB once; a stale build lock is taken over',
  async (t, { site, home }) => {
    await publishBytes(site, 'tool one', windowsTool(1), 'tool-1.exe');
    const signing = site.signing;
    if (signing === undefined) return t.fail('no signing');
    // Two caches stand for two processes: each has its own memory, they share the files.
    const a = new CatalogCabCache({ db: site.db, config: site.config, signing, log: site.log });
    const b = new CatalogCabCache({ db: site.db, config: site.config, signing, log: site.log });
    const [x, y] = await Promise.all([a.current(), b.current()]);
    t.is(x.etag, y.etag);
    t.is(x.file, y.file);

    await publishBytes(site, 'tool two', windowsTool(2), 'tool-2.exe');
    const lock = path.join(home, 'catalog', 'cab', '.build.lock');
    await writeFile(lock, '999999 a builder that was killed\n');
    const old = new Date(Date.now() - 10 * 60 * 1000);
    await utimes(lock, old, old);
    const z = await b.current();
    t.is(z.catalogVersion, 2);
    t.not(z.etag, x.etag);
    await t.throwsAsync(stat(lock), { code: 'ENOENT' });
  },
);

dbTest('GET /catalog/v1/publisher.cer is the publisher certificate, DER', async (t, { site }) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-cer-'));
  try {
    const res = await request(createApp(site))
      .get('/catalog/v1/publisher.cer')
      .buffer(true)
      .parse(binary)
      .expect(200);
    t.is(res.headers['content-type'], 'application/pkix-cert');
    const der = path.join(dir, 'publisher.cer');
    await writeFile(der, res.body as Buffer);
    const pem = path.join(dir, 'publisher.pem');
    await writeFile(pem, site.signing?.publisher.certificatePem ?? '');
    const fp = async (args: string[]) =>
      (await run('openssl', ['x509', ...args, '-noout', '-fingerprint', '-sha1'])).stdout;
    t.is(await fp(['-inform', 'DER', '-in', der]), await fp(['-in', pem]));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
