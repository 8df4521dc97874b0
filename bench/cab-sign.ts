/**
 * Issue 11 benchmark (Authenticode half): wrap a 1 GiB payload into a signed CAB with upcat
 * (writeSignedCab: src/windows/cab's writer + src/windows/authenticode's in-place signer) and,
 * in the same run on the same file, with `gcab -c -z` followed by `osslsigncode sign` (SHA-256,
 * the same test certificate). Prints the ratio of wall times and upcat's peak RSS, measured on
 * the child process doing the work (GNU time). Target: at most 1.0x, peak RSS under 150 MB.
 * The signing step alone (upcat's in-place signer against osslsigncode sign of the same
 * cabinet) is printed as well.
 *
 * The payload is base64 text of seeded pseudo-random bytes: compressible (to about 3/4), so
 * MSZIP does real work, and the same in every run.
 */
import { generateKeyPairSync } from 'node:crypto';
import { open, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createCa, issueCertificate } from '../src/signing/ca.js';
import { writeCab } from '../src/windows/cab/index.js';
import type { BenchResult } from './types.js';
import { median, ROOT, timed, workDir } from './util.js';

const SIZE = Number(process.env['BENCH_CAB_BYTES'] ?? 1024 ** 3);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);

export async function run(): Promise<BenchResult> {
  const dir = await workDir('cab-sign');
  const payload = path.join(dir, 'payload.b64');
  await ensurePayload(payload, SIZE);
  const { certs, key } = await testSigner(dir);
  // The cabinet the sign-only runs re-sign in place (each run replaces the previous signature).
  const reserved = path.join(dir, 'reserved.cab');
  await rm(reserved, { force: true });
  await writeCab([{ name: 'payload.b64', source: payload }], reserved, { signatureReserve: true });
  await timed('sh', ['-c', `cat "${payload}" > /dev/null`]); // warm the page cache for both alike

  const refTimes: number[] = [];
  const osslTimes: number[] = [];
  const oursTimes: number[] = [];
  const signTimes: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const refCab = path.join(dir, 'gcab.cab');
    const refSigned = path.join(dir, 'gcab-signed.cab');
    const ours = path.join(dir, 'upcat.cab');
    for (const f of [refCab, refSigned, ours]) await rm(f, { force: true });

    const gcab = await timed('sh', ['-c', `cd "${dir}" && gcab -c -z gcab.cab payload.b64`]);
    const ossl = await timed('osslsigncode', [
      ...['sign', '-certs', certs, '-key', key, '-h', 'sha256'],
      ...['-in', refCab, '-out', refSigned],
    ]);
    refTimes.push(gcab.ms + ossl.ms);
    osslTimes.push(ossl.ms);

    const child = await timed(
      process.execPath,
      ['--input-type=module', '-e', WRAP_CHILD, payload, ours, certs, key],
      { rss: true },
    );
    oursTimes.push(child.ms);
    rss.push((child.maxRssKb ?? 0) / 1024);
    const sign = await timed(
      process.execPath,
      ['--input-type=module', '-e', SIGN_CHILD, reserved, '-', certs, key],
      { rss: true },
    );
    signTimes.push(sign.ms);
    rss.push((sign.maxRssKb ?? 0) / 1024);
  }
  const reference = median(refTimes);
  const ours = median(oursTimes);
  const peak = Math.max(...rss);
  const ratio = ours / reference;
  return {
    name: `CAB wrap + Authenticode sign ${Math.round(SIZE / 1024 ** 2)} MiB (writeSignedCab)`,
    reference: 'gcab -c -z then osslsigncode sign -h sha256 of the same file',
    figures: {
      'gcab + osslsigncode ms (median)': Math.round(reference),
      'upcat writeSignedCab ms (median)': Math.round(ours),
      'upcat peak RSS MB': Math.round(peak),
      'osslsigncode sign alone ms (median)': Math.round(median(osslTimes)),
      'upcat in-place sign alone ms (median)': Math.round(median(signTimes)),
      'signed cab bytes': (await stat(path.join(dir, 'upcat.cab'))).size,
      runs: RUNS,
      'upcat ms (all)': oursTimes.map(Math.round).join(' '),
      'reference ms (all)': refTimes.map(Math.round).join(' '),
    },
    ratio: Math.round(ratio * 100) / 100,
    target: 'writeSignedCab <= 1.0x (gcab -c -z + osslsigncode sign), peak RSS < 150 MB',
    met: ratio <= 1.0 && peak < 150,
  };
}

/** A test CA and code-signing leaf (RSA 3072, SHA-256), as PEM files osslsigncode reads. */
async function testSigner(dir: string): Promise<{ certs: string; key: string }> {
  const ca = createCa({ subject: { commonName: 'bench CA' } });
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const leaf = issueCertificate(ca, {
    subject: { commonName: 'bench publisher' },
    publicKey: { pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    usage: 'codeSigning',
  });
  const certs = path.join(dir, 'certs.pem');
  const key = path.join(dir, 'key.pem');
  await writeFile(certs, leaf + ca.certificatePem);
  await writeFile(key, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), {
    mode: 0o600,
  });
  return { certs, key };
}

/** Base64 lines of xorshift32 output: deterministic, compressible to about 3/4. */
async function ensurePayload(file: string, size: number): Promise<void> {
  const existing = await stat(file).catch(() => undefined);
  if (existing?.size === size) return;
  const fh = await open(file, 'w');
  const words = new Uint32Array(3 << 19); // 6 MiB of raw bytes per base64 chunk
  let seed = 0x2545f491;
  for (let done = 0; done < size;) {
    for (let i = 0; i < words.length; i++) {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      words[i] = seed >>> 0;
    }
    const text = Buffer.from(
      Buffer.from(words.buffer)
        .toString('base64')
        .replace(/(.{76})/g, '$1\n'),
      'latin1',
    );
    const n = Math.min(text.length, size - done);
    await fh.write(text, 0, n);
    done += n;
  }
  await fh.close();
}

/**
 * The measured side, in its own plain-node process running the built dist/ (`npm run bench`
 * builds first), so its peak RSS is the work's and not the TypeScript loader's.
 */
const DIST = pathToFileURL(path.join(ROOT, 'dist', 'windows', 'authenticode', 'index.js')).href;
const SIGNER = `
const { prepareSigner, ...api } = await import(${JSON.stringify(DIST)});
const { readFileSync } = await import('node:fs');
const [input, out, certs, key] = process.argv.slice(1);
const pems = readFileSync(certs, 'utf8').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
const signer = prepareSigner({ certificatePem: pems[0], chainPems: pems.slice(1), privateKeyPem: readFileSync(key, 'utf8') });
`;
/** Files -> signed cabinet. */
const WRAP_CHILD = `${SIGNER}
await api.writeSignedCab([{ name: 'payload.b64', source: input }], out, signer);
`;
/** The signing step alone: a cabinet written with the reserve, signed (again) in place. */
const SIGN_CHILD = `${SIGNER}
await api.signCabInPlace(input, signer);
`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await run(), null, 2));
}
