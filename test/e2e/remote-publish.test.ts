import { randomBytes } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import { BUSY_WAIT_MS, uploadPublish } from '../../src/cli/upload.js';
import { UpcatError } from '../../src/errors.js';
import { DEFAULT_IDEMPOTENCY } from '../../src/publish/idempotency.js';
import { createApp } from '../../src/server/app.js';
import { runCli } from '../helpers/cli.js';
import { fileManifest } from '../helpers/publish.js';
import { dbTestSerial } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';
import { listen } from '../helpers/upload.js';

async function buildFiles(
  home: string,
  name = 'tool.bin',
  size = 2 * 1024 * 1024 + 17,
): Promise<{ file: string; manifest: string }> {
  const file = path.join(home, name);
  await writeFile(file, randomBytes(size));
  const manifest = path.join(home, `${name}.manifest.json`);
  await writeFile(manifest, JSON.stringify(fileManifest(name, { product: `Tool ${name}` })));
  return { file, manifest };
}

/** An environment without a site home: a remote publish must not need one. */
function clientEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    UPCAT_HOME: '/nonexistent',
    ...extra,
  };
}

/**
 * A TCP proxy in front of the server that breaks the first connection: `request` cuts it after
 * part of the upload went through; `response` lets the whole request through and drops the
 * server's answer (the publish happened, the client cannot know).
 */
async function breakingProxy(
  port: number,
  mode: 'request' | 'response',
): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  let connections = 0;
  const server = net.createServer((client) => {
    connections++;
    const first = connections === 1;
    const upstream = net.connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    let forwarded = 0;
    client.on('data', (d: Buffer) => {
      forwarded += d.length;
      upstream.write(d);
      if (first && mode === 'request' && forwarded > 512 * 1024) {
        client.destroy();
        upstream.destroy();
      }
    });
    upstream.on('data', (d: Buffer) => {
      if (first && mode === 'response') {
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

dbTestSerial(
  'upcat publish --server prints what a local publish prints; progress lines when not a TTY',
  async (t, { site, home, env }) => {
    const server = await listen(createApp(site));
    try {
      const token = await tokenOf(site, 'publish');
      // Large enough that every tenth of it spans more than one 1 MiB read.
      const { file, manifest } = await buildFiles(home, 'tool.bin', 12 * 1024 * 1024 + 17);
      const human = await runCli(
        ['publish', file, '--manifest', manifest, '--server', server.url],
        clientEnv({ UPCAT_TOKEN: token }),
      );
      t.is(human.code, 0, human.stderr);
      t.regex(
        human.stdout,
        /^published update [0-9a-f-]{36} revision 1 \(catalog version \d+, sha256 [0-9a-f]{64}\)\n$/,
      );
      const lines = human.stderr.trim().split('\n');
      t.deepEqual(
        lines,
        [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((p) => `uploading ${p}%`),
      );

      const remote = await runCli(
        [
          'publish',
          file,
          '--manifest',
          manifest,
          '--server',
          server.url,
          '--token',
          token,
          '--json',
        ],
        clientEnv(),
      );
      t.is(remote.code, 0, remote.stderr);
      // --json keeps stdout for the result; stderr, not a terminal here, still gets the progress.
      t.deepEqual(remote.stderr.trim().split('\n'), lines);
      const local = await runCli(['publish', file, '--manifest', manifest, '--json'], env);
      t.is(local.code, 0, local.stderr);
      t.deepEqual(JSON.parse(remote.stdout), JSON.parse(local.stdout));
      t.is(remote.stdout, local.stdout);
      t.is((await site.db('revisions')).length, 1);
    } finally {
      await server.close();
    }
  },
);

dbTestSerial(
  'a dropped connection is retried with the same key: one publish',
  async (t, { site, home }) => {
    const server = await listen(createApp(site));
    const token = await tokenOf(site, 'publish');
    try {
      for (const mode of ['request', 'response'] as const) {
        const proxy = await breakingProxy(server.port, mode);
        try {
          const { file, manifest } = await buildFiles(home, `${mode}.bin`);
          const res = await runCli(
            ['publish', file, '--manifest', manifest, '--server', proxy.url],
            clientEnv({ UPCAT_TOKEN: token }),
          );
          t.is(res.code, 0, res.stderr);
          t.true(proxy.connections() >= 2, mode);
          t.regex(res.stderr, /^upload failed \(.+\); retrying in [\d.]+ s \(attempt 2 of 5\)$/m);
          // "published", not "already published": when the answer was lost, the retry got the
          // first answer from the key instead of publishing the same content again.
          const match = /^published update ([0-9a-f-]{36}) revision 1 /.exec(res.stdout);
          t.truthy(match, res.stdout);
          const revisions = await site.db('revisions').where({ update_id: match?.[1] ?? '' });
          t.is(revisions.length, 1, mode);
        } finally {
          await proxy.close();
        }
      }
      t.is((await site.db('revisions')).length, 2);
      t.deepEqual(await site.db('idempotency_keys').whereNot({ state: 'done' }), []);
    } finally {
      await server.close();
    }
  },
);

dbTestSerial(
  'remote publish errors: one line, non-zero exit, no retry of a refusal',
  async (t, { site, home }) => {
    const server = await listen(createApp(site));
    try {
      const { file, manifest } = await buildFiles(home);
      const approve = await tokenOf(site, 'approve');
      const refused = await runCli(
        ['publish', file, '--manifest', manifest, '--server', server.url, '--token', approve],
        clientEnv(),
      );
      t.is(refused.code, 2);
      t.regex(
        refused.stderr,
        /^upcat: http:\/\/127\.0\.0\.1:\d+: token "[^"]+" has scope approve; this route needs publish\n$/m,
      );
      t.notRegex(refused.stderr, /retrying/);
      const noToken = await runCli(
        ['publish', file, '--manifest', manifest, '--server', server.url],
        clientEnv(),
      );
      t.is(noToken.code, 2);
      t.regex(noToken.stderr, /needs a token/);
      t.is((await site.db('revisions')).length, 0);
    } finally {
      await server.close();
    }
  },
);

/**
 * A node in front of the server that answers `busy` requests with 409 in_progress, as a site
 * does while a crashed node's lease holds the key, then passes requests through.
 */
async function busyFront(
  upstreamPort: number,
  busy: number,
): Promise<{ url: URL; keys: string[]; contentTypes: string[]; close(): Promise<void> }> {
  const keys: string[] = [];
  const contentTypes: string[] = [];
  const server = http.createServer((req, res) => {
    keys.push(String(req.headers['idempotency-key']));
    contentTypes.push(String(req.headers['content-type']));
    if (keys.length <= busy) {
      req.resume();
      res.writeHead(409, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: {
            code: 'in_progress',
            message: 'a request with this Idempotency-Key is still running; retry later',
          },
        }),
      );
      return;
    }
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    keys,
    contentTypes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Runs `fn` with what it writes to stderr captured (the upload's progress lines). */
async function withStderr<T>(
  fn: () => Promise<T>,
): Promise<{ value?: T; error?: unknown; stderr: string }> {
  const original = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    return { value: await fn(), stderr };
  } catch (error) {
    return { error, stderr };
  } finally {
    process.stderr.write = original;
  }
}

test('a busy key is waited for longer than a crashed node holds its lease', (t) => {
  t.true(BUSY_WAIT_MS > DEFAULT_IDEMPOTENCY.leaseMs);
});

dbTestSerial(
  'an in_progress answer is retried with the same key until the key is free, with a progress line',
  async (t, { site, home }) => {
    const server = await listen(createApp(site));
    const front = await busyFront(server.port, 3);
    try {
      const { file } = await buildFiles(home);
      const token = await tokenOf(site, 'publish');
      const size = (await stat(file)).size;
      const run = await withStderr(() =>
        uploadPublish({
          server: front.url,
          token,
          file,
          fileName: 'tool.bin',
          size,
          manifest: fileManifest('tool.bin'),
          progress: true,
          attempts: 2,
          backoffMs: 20,
          busyWaitMs: 10_000,
        }),
      );
      t.is(run.error, undefined);
      t.true(run.value?.created);
      t.is((await site.db('revisions')).length, 1);
      t.is(front.keys.length, 4);
      t.is(new Set(front.keys).size, 1, 'one key for every attempt');
      const busyLines = run.stderr.split('\n').filter((l) => l.startsWith('server busy'));
      t.is(busyLines.length, 3, run.stderr);
      for (const line of busyLines)
        t.regex(
          line,
          /^server busy with an earlier attempt of this publish \(a request with this Idempotency-Key is still running; retry later\); retrying in [\d.]+ s \(waiting up to [\d.]+ s more\)$/,
        );
    } finally {
      await front.close();
      await server.close();
    }
  },
);

dbTestSerial(
  'a key that stays busy is given up after the wait, not after the attempt count',
  async (t, { site, home }) => {
    const server = await listen(createApp(site));
    const front = await busyFront(server.port, Number.POSITIVE_INFINITY);
    try {
      const { file } = await buildFiles(home);
      const token = await tokenOf(site, 'publish');
      const size = (await stat(file)).size;
      const started = Date.now();
      const run = await withStderr(() =>
        uploadPublish({
          server: front.url,
          token,
          file,
          fileName: 'tool.bin',
          size,
          manifest: fileManifest('tool.bin'),
          progress: false,
          attempts: 2,
          backoffMs: 20,
          busyWaitMs: 600,
        }),
      );
      t.true(run.error instanceof UpcatError);
      t.is((run.error as UpcatError).code, 'in_progress');
      t.regex(
        (run.error as Error).message,
        /^http:\/\/127\.0\.0\.1:\d+: a request with this Idempotency-Key is still running; retry later \(still busy after 1 s\)$/,
      );
      t.true(front.keys.length > 2, `${front.keys.length} attempts`);
      t.true(Date.now() - started >= 600);
      t.is(run.stderr, '');
      t.is((await site.db('revisions')).length, 0);
    } finally {
      await front.close();
      await server.close();
    }
  },
);

dbTestSerial(
  'the CLI sends the raw body form, or a multipart form when the manifest is too large for a header',
  async (t, { site, home }) => {
    const server = await listen(createApp(site));
    const front = await busyFront(server.port, 0);
    try {
      const token = await tokenOf(site, 'publish');
      for (const [name, description] of [
        ['small.bin', 'short'],
        ['large.bin', 'x'.repeat(10_000)],
      ] as const) {
        const { file } = await buildFiles(home, name);
        const size = (await stat(file)).size;
        const result = await uploadPublish({
          server: front.url,
          token,
          file,
          fileName: name,
          size,
          manifest: fileManifest(name, { product: `Tool ${name}`, description }),
          progress: false,
        });
        t.true(result.created);
        t.is(result.size, size);
      }
      t.is(front.contentTypes[0], 'application/octet-stream');
      t.regex(front.contentTypes[1] ?? '', /^multipart\/form-data; boundary=upcat-[0-9a-f]{32}$/);
      const descriptions = (await site.db('revisions').select('description')) as Array<{
        description: string;
      }>;
      t.deepEqual(
        descriptions.map((r) => r.description.length).sort((a, b) => a - b),
        [5, 10_000],
      );
    } finally {
      await front.close();
      await server.close();
    }
  },
);

dbTestSerial(
  'a payload refused while it streams (413) is reported at once, not retried',
  async (t, { site, home }) => {
    // Room for a large manifest lets the declared length pass, so the refusal comes mid-stream.
    site.config.limits.maxPayloadBytes = 1024 * 1024;
    site.config.limits.maxManifestBytes = 64 * 1024 * 1024;
    const server = await listen(createApp(site));
    try {
      const { file, manifest } = await buildFiles(home, 'big.bin', 24 * 1024 * 1024);
      const res = await runCli(
        ['publish', file, '--manifest', manifest, '--server', server.url, '--quiet'],
        clientEnv({ UPCAT_TOKEN: await tokenOf(site, 'publish') }),
      );
      t.is(res.code, 2);
      t.is(res.stderr, `upcat: ${server.url}: payload is larger than the limit of 1048576 bytes\n`);
      t.is((await site.db('revisions')).length, 0);
    } finally {
      await server.close();
    }
  },
);
