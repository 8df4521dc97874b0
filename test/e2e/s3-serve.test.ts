import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import test from 'ava';
import { openSite } from '../../src/app.js';
import { endpoint, linux, markerOf, markerPackage } from '../helpers/agent-endpoint.js';
import { runCli } from '../helpers/cli.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { serveCli, stdoutOf } from '../helpers/served-cli.js';
import { DATABASES, dropSchema, siteEnv } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';

/**
 * Issue 15 item 1, end to end with `storage.blobs.type = s3`: `upcat init`, `upcat serve`, a
 * publish through the HTTP API, an agent that downloads and installs the payload, and
 * `upcat verify` (tuf-js over HTTP) finding every target whole; the bytes are in the bucket.
 */

let s3: S3Server;
test.before(async () => {
  s3 = await startS3();
});
test.after.always(async () => {
  await s3?.close();
});

for (const kind of DATABASES) {
  test.serial(
    `init, serve, publish over HTTP, agent install, verify on S3 [${kind}]`,
    async (t) => {
      t.timeout(5 * 60_000);
      const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-s3-e2e-'));
      const bucket = await s3.bucket();
      const env: NodeJS.ProcessEnv = {
        ...siteEnv(kind, home),
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      };
      await writeFile(
        path.join(home, 'upcat.config.json'),
        JSON.stringify({
          site: { approval: 'auto-all' },
          storage: {
            blobs: {
              type: 's3',
              bucket,
              prefix: 'e2e/',
              endpoint: s3.endpoint,
              forcePathStyle: true,
            },
          },
        }),
      );
      let server: { url: string; stop(): Promise<void> } | undefined;
      try {
        stdoutOf(await runCli(['init', '--json'], env));
        const site = await openSite({ home, env, logLevel: 'silent' });
        const token = await tokenOf(site, 'publish').finally(() => site.close());
        server = await serveCli(env);

        const pkg = await markerPackage(home, 'Contoso Tool', '1.0');
        const mf = path.join(home, 'manifest.json');
        await writeFile(
          mf,
          JSON.stringify({
            title: 'Contoso Tool 1.0',
            product: 'Contoso Tool',
            classification: 'Updates',
            version: '1.0',
            handler: { type: 'commandLine', program: 'setup.sh' },
            isInstallable: { Platform: { Name: 'linux' } },
          }),
        );
        const published = JSON.parse(
          stdoutOf(
            await runCli(['publish', pkg, '--manifest', mf, '--server', server.url, '--json'], {
              ...env,
              UPCAT_TOKEN: token,
            }),
          ),
        ) as { updateId: string; sha256: string };
        const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }));
        const keys = (listed.Contents ?? []).map((o) => o.Key);
        t.true(keys.includes(`e2e/pool/${published.sha256.slice(0, 2)}/${published.sha256}`));
        t.false(keys.some((k) => k?.startsWith('e2e/tmp/')));

        stdoutOf(
          await runCli(
            ['approve', published.updateId, '--group', 'All Computers', '--action', 'install'],
            env,
          ),
        );
        const pc = await endpoint(home, 'pc', linux('x64'));
        const run = await pc.run(server.url);
        t.is(run.code, 0, run.stderr);
        t.is(
          run.report?.results.find((r) => r.updateId === published.updateId)?.state,
          'installed',
        );
        t.deepEqual(await pc.markers(), [markerOf('Contoso Tool', '1.0')]);

        const verified = await runCli(['verify', '--server', server.url, '--json'], env);
        t.is(verified.code, 0, verified.stderr);
      } finally {
        await server?.stop();
        await dropSchema(env);
        await rm(home, { recursive: true, force: true });
      }
    },
  );
}
