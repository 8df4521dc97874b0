import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { openSite, type Site } from '../../src/app.js';
import { CONFIG_FILE } from '../../src/config/load.js';
import { dropSchema, sharedSigningDir, siteEnv, type DbKind } from './site.js';

/** s3rver's fixed credentials; the SDK's default chain reads them from the environment. */
process.env['AWS_ACCESS_KEY_ID'] = 'S3RVER';
process.env['AWS_SECRET_ACCESS_KEY'] = 'S3RVER';
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

export interface S3Server {
  endpoint: string;
  client: S3Client;
  /** A new empty bucket. */
  bucket(): Promise<string>;
  close(): Promise<void>;
}

let buckets = 0;

/** s3rver (an S3-compatible server on npm) on a free loopback port, keeping objects in a temp dir. */
export async function startS3(): Promise<S3Server> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true });
  return {
    endpoint,
    client,
    bucket: async () => {
      buckets += 1;
      const name = `upcat-test-${process.pid}-${buckets}`;
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    close: async () => {
      client.destroy();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh site whose blobs live in a new bucket of `s3`. */
export async function makeS3Site(
  kind: DbKind,
  s3: S3Server,
  extra: { redirect?: string; prefix?: string } = {},
): Promise<{ site: Site; home: string; bucket: string; cleanup(): Promise<void> }> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-test-'));
  const env = siteEnv(kind, home);
  await cp(await sharedSigningDir(), path.join(home, 'signing'), { recursive: true });
  const bucket = await s3.bucket();
  const blobs = {
    type: 's3',
    bucket,
    prefix: extra.prefix ?? 'site/',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    ...(extra.redirect === undefined ? {} : { redirect: extra.redirect }),
  };
  await writeFile(path.join(home, CONFIG_FILE), JSON.stringify({ storage: { blobs } }));
  const site = await openSite({ home, env, logLevel: 'silent' });
  return {
    site,
    home,
    bucket,
    cleanup: async () => {
      await site.close();
      await dropSchema(env);
      await rm(home, { recursive: true, force: true });
    },
  };
}
