import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import { startServer } from '../../src/server/serve.js';
import { fileManifest } from '../helpers/publish.js';
import { dbTestSerial } from '../helpers/site.js';

/**
 * Clients that never finish reading (issue 13 item 8; slow senders are in
 * test/integration/server-defects.test.ts: 408 and closed). Twenty connections ask for a 32 MiB
 * payload and never read a byte: the server keeps answering everyone else, holds no copy of the
 * payload per stalled reader (the stream waits on the socket: memory stays far below 20 copies),
 * and when those clients go away the server is unharmed.
 */
const SIZE = 32 * 1024 * 1024;
const STALLED = 20;

dbTestSerial('downloads that are never read do not hold up the server', async (t, { site }) => {
  t.timeout(180_000);
  const payload = randomBytes(SIZE);
  const sha256 = createHash('sha256').update(payload).digest('hex');
  await site.publish.publish({
    source: Readable.from([payload]),
    fileName: 'big.bin',
    manifest: fileManifest('big.bin'),
    actor: 'test',
  });
  const running = await startServer(site, { host: '127.0.0.1', port: 0 });
  const { port } = new URL(running.url);
  const sockets: net.Socket[] = [];
  try {
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < STALLED; i++) {
      const s = net.connect(Number(port), '127.0.0.1');
      s.on('error', () => {});
      s.write(`GET /content/${sha256} HTTP/1.1\r\nHost: x\r\n\r\n`);
      s.pause(); // never read: the server's writes fill the socket buffers and wait
      sockets.push(s);
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    // Everyone else is still served, and in full.
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${running.url}/healthz`, { signal: AbortSignal.timeout(15_000) });
      t.is(res.status, 200);
    }
    const full = await fetch(`${running.url}/content/${sha256}`, {
      signal: AbortSignal.timeout(60_000),
    });
    const got = Buffer.from(await full.arrayBuffer());
    t.is(createHash('sha256').update(got).digest('hex'), sha256, 'a reading client gets it all');
    const grown = process.memoryUsage().rss - rssBefore;
    t.log(`RSS grew ${(grown / 1048576).toFixed(0)} MiB with ${STALLED} stalled readers`);
    t.true(grown < (STALLED * SIZE) / 2, 'stalled readers do not each hold a copy of the payload');
  } finally {
    for (const s of sockets) s.destroy();
    await running.close();
  }
});
