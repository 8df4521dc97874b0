import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import test from 'ava';
import { initCertificates, loadPublisher, pkiPaths } from '../../../src/signing/ca.js';
import { signDetached, signFile } from '../../../src/signing/cms.js';

const run = promisify(execFile);

/** The check any holder of the site CA certificate runs (issue 3 item 5). */
async function opensslVerifies(sig: string, payload: string, caFile: string): Promise<boolean> {
  try {
    await run('/usr/bin/openssl', [
      'cms',
      '-verify',
      '-binary',
      '-inform',
      'DER',
      '-in',
      sig,
      '-content',
      payload,
      '-CAfile',
      caFile,
      '-purpose',
      'any',
      '-out',
      '/dev/null',
    ]);
    return true;
  } catch {
    return false;
  }
}

test('openssl cms -verify accepts the detached signature and rejects any changed byte', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-cms-'));
  try {
    const signing = path.join(dir, 'signing');
    await initCertificates(signing, { siteCode: 'UPC', siteName: 'test', modulusLength: 2048 });
    const ca = pkiPaths(signing).caCert;
    const publisher = await loadPublisher(signing);
    const payload = path.join(dir, 'payload.bin');
    const sig = path.join(dir, 'payload.bin.p7s');
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(payload, bytes);
    await writeFile(sig, await signFile(payload, publisher));
    t.true(await opensslVerifies(sig, payload, ca));

    for (const at of [0, bytes.length >> 1, bytes.length - 1]) {
      const changed = Buffer.from(bytes);
      changed[at] = (changed[at] ?? 0) ^ 0x01;
      await writeFile(payload, changed);
      t.false(await opensslVerifies(sig, payload, ca), `byte ${at} changed`);
    }
    await writeFile(payload, Buffer.concat([bytes, Buffer.from([0])]));
    t.false(await opensslVerifies(sig, payload, ca), 'one byte appended');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a payload streamed in many chunks signs the same content as one buffer', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-cms-'));
  try {
    const signing = path.join(dir, 'signing');
    await initCertificates(signing, { siteCode: 'UPC', siteName: 'test', modulusLength: 2048 });
    const publisher = await loadPublisher(signing);
    const chunks = Array.from({ length: 64 }, () => randomBytes(4096));
    const sig = path.join(dir, 'p.p7s');
    const payload = path.join(dir, 'p.bin');
    await writeFile(sig, await signDetached(Readable.from(chunks), publisher));
    await writeFile(payload, Buffer.concat(chunks));
    t.true(await opensslVerifies(sig, payload, pkiPaths(signing).caCert));
    // The signature embeds the publisher certificate, so a verifier needs only the CA.
    t.true((await readFile(sig)).includes(Buffer.from('upcat UPC publisher')));

    // Signed by a publisher of another site's CA: rejected against this site's CA.
    const otherSigning = path.join(dir, 'other');
    await initCertificates(otherSigning, { siteCode: 'OTH', siteName: 'x', modulusLength: 2048 });
    await writeFile(sig, await signFile(payload, await loadPublisher(otherSigning)));
    t.false(await opensslVerifies(sig, payload, pkiPaths(signing).caCert));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
