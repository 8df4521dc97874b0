import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { Updater } from 'tuf-js';
import { rotateKey } from '../../src/signing/rotate.js';
import type { Signer } from '../../src/signing/signer.js';
import {
  download,
  makeTufFixture,
  sha256,
  type TufFixture,
  forgedTimestamp,
} from '../helpers/tuf.js';

/**
 * One test per attack of issue 3 item 7 (TUF spec §1.5.2, "Goals to protect against specific
 * attacks"). Each is answered by the attacker through `fx.attack` (a man in the middle or a
 * compromised mirror) and must be rejected by tuf-js, an independent client; the reason is logged.
 */

async function rejected(
  t: ExecutionContext,
  run: () => Promise<unknown>,
  reason: RegExp,
): Promise<void> {
  const err = await t.throwsAsync(run);
  t.log(`rejected: ${err?.message ?? ''}`);
  t.regex(err?.message ?? '', reason);
}

function bytesOf(fx: TufFixture, file: string): Promise<Buffer> {
  return readFile(path.join(fx.repoDir, file));
}

async function current(fx: TufFixture, name = 'client'): Promise<Updater> {
  const client = await fx.client(name);
  await client.refresh();
  return client;
}

test('arbitrary installation: a payload replaced in the pool is rejected', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'payloads/tool.bin': 'genuine payload' });
    const poolFile = fx.pool.pathOf(sha256('genuine payload'));
    await writeFile(poolFile, 'malicious paylod'.slice(0, 15));
    const client = await current(fx);
    await rejected(t, () => download(client, 'payloads/tool.bin'), /hash/i);

    // Nor can the attacker point the signed metadata at its own file: the bin's signature breaks.
    const binFile = (await fx.publish({ 'payloads/other.bin': 'x' })).written[0] as string;
    const bin = JSON.parse((await bytesOf(fx, binFile)).toString()) as {
      signed: { targets: Record<string, { hashes: { sha256: string } }> };
    };
    for (const target of Object.values(bin.signed.targets)) target.hashes.sha256 = sha256('evil');
    fx.attack.set(`/tuf/${binFile}`, Buffer.from(JSON.stringify(bin)));
    await rejected(
      t,
      async () => (await fx.client('other')).getTargetInfo('payloads/other.bin'),
      /signature|threshold|Unable to load targets/i,
    );
  } finally {
    await fx.close();
  }
});

test('rollback: an older timestamp is rejected', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'a.bin': 'a' });
    const old = await bytesOf(fx, 'timestamp.json');
    await fx.publish({ 'b.bin': 'b' });
    await current(fx);
    fx.attack.set('/tuf/timestamp.json', old);
    await rejected(t, async () => (await fx.client()).refresh(), /less than current version/);
  } finally {
    await fx.close();
  }
});

test('rollback: an older snapshot is rejected, even under a timestamp signed by the real key', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'a.bin': 'a' });
    await fx.publish({ 'b.bin': 'b' });
    await current(fx);
    const ring = await fx.keyring();
    fx.attack.set(
      '/tuf/timestamp.json',
      await forgedTimestamp(fx, { version: 3, snapshotVersion: 1 }, ring.timestamp.signers),
    );
    await rejected(
      t,
      async () => (await fx.client()).refresh(),
      /snapshot version 1 is less than current version 2/,
    );
  } finally {
    await fx.close();
  }
});

test('indefinite freeze: an expired timestamp is rejected', async (t) => {
  const twoDaysAgo = Date.now() - 2 * 24 * 60 * 60 * 1000;
  const fx = await makeTufFixture({ now: () => new Date(twoDaysAgo) });
  try {
    // A repository frozen two days ago: its 1-day timestamp has expired.
    await fx.publish({ 'a.bin': 'a' });
    await rejected(t, async () => (await fx.client()).refresh(), /timestamp\.json is expired/);
  } finally {
    await fx.close();
  }
});

test('mix-and-match: a snapshot from another catalog version is rejected', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'a.bin': 'a' });
    const older = await bytesOf(fx, '1.snapshot.json');
    await fx.publish({ 'b.bin': 'b' });
    fx.attack.set('/tuf/2.snapshot.json', older);
    await rejected(t, async () => (await fx.client()).refresh(), /snapshot/i);

    // A bin of another version under the current version's name is refused as well.
    fx.attack.clear();
    const binFile = (await fx.publish({ 'c.bin': 'c' })).written[0] as string;
    const [version, bin] = binFile.split('.') as [string, string];
    fx.attack.set(`/tuf/${binFile}`, await bytesOf(fx, `${Number(version) - 1}.${bin}.json`));
    await rejected(
      t,
      async () => (await fx.client('second')).getTargetInfo('c.bin'),
      /Expected length|version/i,
    );
  } finally {
    await fx.close();
  }
});

test('fast-forward recovery: after a timestamp key rotation the client follows the real timestamp again', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'a.bin': 'a' });
    const stolen = (await fx.keyring()).timestamp.signers;
    // The attacker, holding the timestamp key, fast-forwards the client to version 1000000.
    fx.attack.set('/tuf/timestamp.json', await forgedTimestamp(fx, { version: 1_000_000 }, stolen));
    await current(fx);
    fx.attack.clear();
    await fx.publish({ 'b.bin': 'b' });
    await rejected(
      t,
      async () => (await fx.client()).refresh(),
      /less than current version 1000000/,
    );

    // Spec §5.3.11: a new root that rotates the timestamp key makes the client drop its timestamp.
    await rotateKey(fx.signingDir, fx.repoDir, 'timestamp', fx.options);
    const client = await current(fx);
    t.is((await download(client, 'b.bin')).toString(), 'b');
    const trusted = JSON.parse(
      await readFile(path.join(fx.home, 'client', 'metadata', 'timestamp.json'), 'utf8'),
    ) as { signed: { version: number } };
    t.is(trusted.signed.version, 3);
  } finally {
    await fx.close();
  }
});

test('endless data: metadata longer than declared is rejected', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'a.bin': 'a' });
    const snapshot = await bytesOf(fx, '1.snapshot.json');
    fx.attack.set('/tuf/1.snapshot.json', Buffer.concat([snapshot, Buffer.alloc(1 << 20, 0x20)]));
    await rejected(t, async () => (await fx.client()).refresh(), /max length/i);
    fx.attack.set('/tuf/timestamp.json', Buffer.alloc(1 << 20, 0x20));
    await rejected(t, async () => (await fx.client('second')).refresh(), /max length/i);
  } finally {
    await fx.close();
  }
});

test('endless data: a payload longer than declared is rejected', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'payloads/tool.bin': 'tool' });
    fx.attack.set(
      `/tuf/targets/payloads/${sha256('tool')}.tool.bin`,
      Buffer.concat([Buffer.from('tool'), randomBytes(1 << 20)]),
    );
    const client = await current(fx);
    await rejected(t, () => download(client, 'payloads/tool.bin'), /max length/i);
  } finally {
    await fx.close();
  }
});

test('threshold: with a threshold of two, metadata with one stolen and one forged signature is rejected', async (t) => {
  const fx = await makeTufFixture({ keys: { thresholds: { timestamp: 2 } } });
  try {
    await fx.publish({ 'a.bin': 'a' });
    const [stolen, other] = (await fx.keyring()).timestamp.signers as [Signer, Signer];
    await current(fx); // both real signatures: accepted
    const forgedPeer: Signer = { key: other.key, sign: () => Promise.resolve(randomBytes(64)) };
    fx.attack.set(
      '/tuf/timestamp.json',
      await forgedTimestamp(fx, { version: 2 }, [stolen, forgedPeer]),
    );
    await rejected(t, async () => (await fx.client()).refresh(), /signed by 1\/2 keys/);
  } finally {
    await fx.close();
  }
});

test('wrong software: a valid target served under another name is rejected', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'payloads/a.bin': 'software A', 'payloads/b.bin': 'software B' });
    fx.attack.set(`/tuf/targets/payloads/${sha256('software B')}.b.bin`, Buffer.from('software A'));
    const client = await current(fx);
    await rejected(t, () => download(client, 'payloads/b.bin'), /hash/i);
    t.is((await download(client, 'payloads/a.bin')).toString(), 'software A');
  } finally {
    await fx.close();
  }
});
