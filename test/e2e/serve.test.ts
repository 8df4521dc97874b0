import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { spawnCli, collect } from '../helpers/cli.js';
import { fileManifest } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';

const SIZE = 32 * 1024 * 1024;

dbTest(
  'SIGTERM lets a download in flight finish, then the server exits 0',
  async (t, { site, env }) => {
    const payload = randomBytes(SIZE);
    const sha256 = createHash('sha256').update(payload).digest('hex');
    await site.publish.publish({
      source: Readable.from([payload]),
      fileName: 'big.bin',
      manifest: fileManifest('big.bin'),
      actor: 'test',
    });

    const server = spawnCli(['serve', '--port', '0', '--host', '127.0.0.1'], env);
    const done = collect(server);
    const url = await new Promise<string>((resolve, reject) => {
      let seen = '';
      server.stderr?.on('data', (d: Buffer) => {
        seen += d.toString();
        const match = /on (http:\/\/[\d.]+:\d+)/.exec(seen);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
      server.once('exit', () => reject(new Error(`server exited early: ${seen}`)));
    });

    const body = await new Promise<Buffer>((resolve, reject) => {
      http
        .get(`${url}/content/${sha256}`, (res) => {
          const chunks: Buffer[] = [];
          let signalled = false;
          res.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            if (!signalled) {
              // Mid-download: stop reading, ask the server to stop, resume a little later.
              signalled = true;
              res.pause();
              server.kill('SIGTERM');
              setTimeout(() => res.resume(), 300);
            }
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    t.is(body.length, SIZE);
    t.is(createHash('sha256').update(body).digest('hex'), sha256);
    const result = await done;
    t.is(result.code, 0, result.stderr);
    // Once stopped, nothing answers any more.
    await t.throwsAsync(
      () =>
        new Promise((resolve, reject) => {
          http.get(`${url}/healthz`, resolve).on('error', reject);
        }),
      { code: 'ECONNREFUSED' },
    );
  },
);
