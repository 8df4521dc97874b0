import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';

/** A `multipart/form-data` body for POST /v1/updates: the manifest part, then the payload part. */
export function uploadForm(
  manifest: unknown,
  payload: string | Buffer,
  fileName = 'tool.bin',
): { contentType: string; head: Buffer; payload: Buffer; tail: Buffer; body: Buffer } {
  const boundary = `test-${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    [
      `--${boundary}`,
      'Content-Disposition: form-data; name="manifest"',
      'Content-Type: application/json',
      '',
      typeof manifest === 'string' ? manifest : JSON.stringify(manifest),
      `--${boundary}`,
      `Content-Disposition: form-data; name="payload"; filename="${fileName}"`,
      'Content-Type: application/octet-stream',
      '',
      '',
    ].join('\r\n'),
  );
  const bytes = Buffer.from(payload);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    head,
    payload: bytes,
    tail,
    body: Buffer.concat([head, bytes, tail]),
  };
}

/** The app on a free loopback port (for tests that need a real socket). */
export async function listen(
  app: Express,
): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `check` until it returns true (or gives up after `timeoutMs`). */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
