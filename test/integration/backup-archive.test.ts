import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import test from 'ava';
import { extract, pack } from 'tar-stream';
import { takeBackup } from '../../src/ops/backup.js';
import { restoreBackup } from '../../src/ops/restore.js';
import { open, seal } from '../../src/ops/secret-box.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { makeSite, sharedSigningDir } from '../helpers/site.js';

/**
 * Issue 13 item 1, the archive's edges: the keys' encryption fails closed, and a restore refuses
 * a backup whose entries would write outside the home or whose payload bytes were changed.
 */

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-archive-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Rewrites a backup entry by entry; `edit` may replace an entry's name or bytes. */
async function rewrite(
  from: string,
  to: string,
  edit: (name: string, bytes: Buffer) => { name: string; bytes: Buffer },
): Promise<void> {
  const out = pack();
  const done = pipeline(out, createWriteStream(to));
  const ex = extract();
  const source = (await import('node:fs')).createReadStream(from);
  source.pipe(ex);
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    const e = edit(entry.header.name, Buffer.concat(chunks));
    await new Promise<void>((resolve, reject) =>
      out.entry(
        { name: e.name, size: e.bytes.length, mode: entry.header.mode ?? 0o644 },
        e.bytes,
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }
  out.finalize();
  await done;
}

test('the signing keys are sealed: a wrong passphrase or a changed byte opens nothing', async (t) => {
  const plain = randomBytes(1000);
  const sealed = await seal(plain, 'a long passphrase');
  t.deepEqual(await open(sealed, 'a long passphrase'), plain);
  const wrong = await t.throwsAsync(open(sealed, 'another passphrase'));
  t.is((wrong as { code?: string }).code, 'unauthorized');
  for (const at of [12, 20, 40, sealed.length - 20, sealed.length - 1]) {
    const bad = Buffer.from(sealed);
    bad[at] = (bad[at] as number) ^ 1;
    const err = await t.throwsAsync(open(bad, 'a long passphrase'));
    t.true(
      ['unauthorized', 'integrity'].includes((err as { code?: string }).code ?? ''),
      `byte ${at}`,
    );
  }
  t.false(sealed.includes(plain.subarray(0, 16)), 'no plaintext in the sealed bytes');
});

// The archive checks do not depend on the database: SQLite only.
test('restore refuses unsafe entry names and changed payloads; backup never overwrites', async (t) => {
  t.timeout(120_000);
  const ctx = await makeSite('sqlite');
  t.teardown(() => ctx.cleanup());
  const work = await tempDir(t);
  const published = await publishBytes(ctx.site, 'payload bytes', fileManifest('tool.bin'));
  const file = path.join(work, 'site.backup');
  await takeBackup(ctx.site, { out: file });
  const again = await t.throwsAsync(takeBackup(ctx.site, { out: file }));
  t.is((again as { code?: string }).code, 'conflict');

  const signingFrom = await sharedSigningDir();
  const attempt = async (name: string, edit: Parameters<typeof rewrite>[2]): Promise<unknown> => {
    const bad = path.join(work, `${name}.backup`);
    await rewrite(file, bad, edit);
    const home = path.join(work, `home-${name}`);
    return restoreBackup({ file: bad, home, env: { PATH: process.env['PATH'] }, signingFrom }).then(
      () => undefined,
      (err: unknown) => err,
    );
  };
  // An entry that climbs out of the home.
  const escape = await attempt('escape', (name, bytes) =>
    name.startsWith('catalog/tuf/1.root.json')
      ? { name: 'catalog/../../escaped.json', bytes }
      : { name, bytes },
  );
  t.is((escape as { code?: string }).code, 'invalid_input');
  t.false((await readdir(work)).includes('escaped.json'));
  // A payload whose bytes were changed in the backup.
  const changed = await attempt('changed', (name, bytes) =>
    name.endsWith(published.sha256)
      ? { name, bytes: Buffer.from('other bytes!!') }
      : { name, bytes },
  );
  t.is((changed as { code?: string }).code, 'integrity');
  // Not a backup at all.
  const notBackup = path.join(work, 'not.backup');
  await writeFile(notBackup, 'hello');
  const err = await restoreBackup({
    file: notBackup,
    home: path.join(work, 'h3'),
    signingFrom,
  }).catch((e: unknown) => e);
  t.truthy(err);
  // A good restore of the same file works, with the keys from --signing-from.
  const ok = await restoreBackup({
    file,
    home: path.join(work, 'good'),
    env: { PATH: process.env['PATH'] },
    signingFrom,
  });
  t.true(ok.tufVersion > 1_000_000);
  t.is(
    (
      await readFile(
        path.join(work, 'good', 'packages', 'pool', published.sha256.slice(0, 2), published.sha256),
      )
    ).toString(),
    'payload bytes',
  );
});
