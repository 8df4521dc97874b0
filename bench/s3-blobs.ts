/**
 * Issue 15 benchmark (object storage): on one S3 endpoint (s3rver from npm, on loopback),
 * - publish of a 1 GiB build to S3 (hashed while it streams to a multipart upload, then copied
 *   into the pool) against `sha256sum` of the file plus a plain @aws-sdk/lib-storage Upload of it;
 * - a download of that payload through the S3 adapter, proxied and redirected (302 to a presigned
 *   URL), against the same file from the file-system pool.
 * All in the same run; BENCH_S3_BYTES sets the size (default 1 GiB).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import S3rver from 's3rver';
import { initSite, openSite, type Site } from '../src/app.js';
import { CONFIG_FILE } from '../src/config/load.js';
import { createApp } from '../src/server/app.js';
import { S3BlobStore } from '../src/storage/blobs/s3-store.js';
import type { BenchResult } from './types.js';
import { timed, workDir } from './util.js';

const SIZE = Number(process.env['BENCH_S3_BYTES'] ?? 1024 ** 3);
const MiB = 1024 * 1024;

export async function run(): Promise<BenchResult> {
  process.env['AWS_ACCESS_KEY_ID'] ??= 'S3RVER';
  process.env['AWS_SECRET_ACCESS_KEY'] ??= 'S3RVER';
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
  const dir = await workDir('s3-blobs');
  const file = path.join(dir, 'payload.bin');
  await ensureFile(file, SIZE);
  const s3dir = await mkdtemp(path.join(dir, 's3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3dir });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true });
  await client.send(new CreateBucketCommand({ Bucket: 'upcat-bench' }));
  const s3site = await benchSite(path.join(dir, 'site-s3'), {
    type: 's3',
    bucket: 'upcat-bench',
    prefix: 'site/',
    endpoint,
    forcePathStyle: true,
  });
  const fsSite = await benchSite(path.join(dir, 'site-fs'));
  try {
    await timed('sha256sum', [file]); // warm the page cache for every contender alike
    const sha = (await timed('sha256sum', [file])).ms;
    const plainUpload = (): Promise<number> =>
      time(async () => {
        const upload = new Upload({
          client,
          params: { Bucket: 'upcat-bench', Key: 'plain/payload.bin', Body: createReadStream(file) },
          partSize: 16 * MiB,
          queueSize: 4,
        });
        await upload.done();
      });
    const plainFirst = await plainUpload();
    let digest = '';
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 50);
    const publish = await time(async () => {
      digest = (await publishFile(s3site, file)).sha256;
    }).finally(() => clearInterval(sampler));
    await publishFile(fsSite, file);
    // Again after the publish, so that neither contender alone pays for a cold server.
    const plain = Math.min(plainFirst, await plainUpload());

    const redirecting = {
      ...s3site,
      blobs: new S3BlobStore(
        {
          bucket: 'upcat-bench',
          prefix: 'site/',
          endpoint,
          region: 'us-east-1',
          forcePathStyle: true,
          redirect: 'presigned',
        },
        s3site.pool,
      ),
    };
    // Two rounds, interleaved; the second is reported (the first also warms caches alike).
    let fsMs = 0;
    let proxiedMs = 0;
    let redirectedMs = 0;
    for (let round = 0; round < 2; round++) {
      fsMs = await download(fsSite, digest);
      proxiedMs = await download(s3site, digest);
      redirectedMs = await download(redirecting, digest);
    }
    const round = (n: number): number => Math.round(n);
    return {
      name: `S3 blob store, ${formatSize(SIZE)} (s3rver on loopback)`,
      reference: 'sha256sum + plain lib-storage Upload (publish); file-system pool (download)',
      figures: {
        'sha256sum ms': round(sha),
        'plain Upload ms (best of before and after)': round(plain),
        'plain Upload ms (before publish)': round(plainFirst),
        'publish to S3 ms': round(publish),
        'publish / (sha256sum + Upload)': Math.round((publish / (sha + plain)) * 100) / 100,
        'publish RSS growth MB (process, sampled)': round((rssPeak - rssBefore) / MiB),
        'download fs pool ms': round(fsMs),
        'download S3 proxied ms': round(proxiedMs),
        'download S3 redirected ms': round(redirectedMs),
        'proxied / fs': Math.round((proxiedMs / fsMs) * 100) / 100,
        'redirected / fs': Math.round((redirectedMs / fsMs) * 100) / 100,
      },
      ratio: Math.round((publish / (sha + plain)) * 100) / 100,
    };
  } finally {
    await s3site.close();
    await fsSite.close();
    client.destroy();
    await server.close();
    await rm(s3dir, { recursive: true, force: true });
    await rm(path.join(dir, 'site-s3'), { recursive: true, force: true });
    await rm(path.join(dir, 'site-fs'), { recursive: true, force: true });
  }
}

async function benchSite(home: string, blobs?: Record<string, unknown>): Promise<Site> {
  await rm(home, { recursive: true, force: true });
  const env = { UPCAT_HOME: home, PATH: process.env['PATH'] ?? '' };
  if (blobs !== undefined) {
    await mkdir(home, { recursive: true });
    await writeFile(path.join(home, CONFIG_FILE), JSON.stringify({ storage: { blobs } }));
  }
  await initSite({ home, env, logLevel: 'silent' });
  return openSite({ home, env, logLevel: 'silent' });
}

function publishFile(site: Site, file: string): ReturnType<Site['publish']['publish']> {
  return site.publish.publish({
    source: createReadStream(file),
    fileName: 'payload.bin',
    manifest: {
      title: 'Bench payload',
      product: 'Bench',
      classification: 'Updates',
      version: '1.0',
      handler: { type: 'commandLine', program: 'payload.bin' },
    },
    actor: 'bench',
  });
}

/** GET /content/<sha256> from a server of `site`, following a redirect; the body is read whole. */
async function download(site: Site, sha256: string): Promise<number> {
  const http = createApp(site).listen(0, '127.0.0.1');
  await new Promise((resolve) => http.once('listening', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/content/${sha256}`;
  try {
    return await time(async () => {
      const res = await fetch(url);
      if (!res.ok || res.body === null) throw new Error(`GET ${url}: ${res.status}`);
      let bytes = 0;
      for await (const chunk of res.body) bytes += (chunk as Uint8Array).length;
      if (bytes !== SIZE) throw new Error(`GET ${url}: ${bytes} bytes, expected ${SIZE}`);
    });
  } finally {
    http.close();
  }
}

async function time(fn: () => Promise<void>): Promise<number> {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function ensureFile(file: string, size: number): Promise<void> {
  const existing = await stat(file).catch(() => undefined);
  if (existing?.size === size) return;
  const fh = await open(file, 'w');
  for (let done = 0; done < size; done += 8 * MiB)
    await fh.write(randomBytes(Math.min(8 * MiB, size - done)));
  await fh.close();
}

function formatSize(n: number): string {
  return n >= 1024 ** 3 ? `${n / 1024 ** 3} GiB` : `${Math.round(n / MiB)} MiB`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await run(), null, 2));
}
