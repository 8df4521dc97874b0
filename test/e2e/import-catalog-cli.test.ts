/**
 * Issue 11 through the built CLI: a failed package makes a non-zero exit with a per-package
 * summary (and --json), a missing payload folder is a one-line error that stores nothing,
 * `--metadata-only` then `content add` brings a package's content.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { packageBody, vendorCatalog } from '../../bench/vendor-catalog-gen.js';
import { runCli } from '../helpers/cli.js';
import { sharedSigningDir } from '../helpers/site.js';
import { cp } from 'node:fs/promises';

interface Outcome {
  status: string;
  message?: string;
  updateId?: string;
}

test('import-catalog exits non-zero when a package fails; content add completes a metadata-only one', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-import-cli-'));
  try {
    await cp(await sharedSigningDir(), path.join(home, 'signing'), { recursive: true });
    const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], UPCAT_HOME: home };
    const good = packageBody({ payload: Buffer.from('good'), title: 'Good 1.0' });
    const bad = packageBody({ payload: Buffer.from('bad!'), title: 'Bad 1.0' });
    const catalog = path.join(home, 'vendor.xml');
    await writeFile(catalog, vendorCatalog([good.xml, bad.xml]));
    const payloads = path.join(home, 'payloads');
    await cp(catalog, path.join(home, 'unused.xml'));
    await import('node:fs/promises').then((fs) => fs.mkdir(payloads));
    await writeFile(path.join(payloads, good.fileName), 'good');
    await writeFile(path.join(payloads, bad.fileName), 'BAD!');

    // A payload folder that does not exist: one line, nothing stored.
    const missing = await runCli(
      ['import-catalog', catalog, '--payloads', path.join(home, 'nope')],
      env,
    );
    t.is(missing.code, 2);
    t.is(missing.stderr.trim().split('\n').length, 1);
    t.regex(missing.stderr, /payload folder .*nope does not exist/);

    const dry = await runCli(
      ['import-catalog', catalog, '--payloads', payloads, '--dry-run', '--json'],
      env,
    );
    const real = await runCli(['import-catalog', catalog, '--payloads', payloads, '--json'], env);
    t.is(real.code, 2);
    t.is(dry.code, 2);
    t.regex(real.stderr, /1 of 2 package\(s\) failed/);
    const outcomes = (JSON.parse(real.stdout) as { packages: Outcome[] }).packages;
    const predicted = (JSON.parse(dry.stdout) as { packages: Outcome[] }).packages;
    t.deepEqual(
      predicted.map((p) => [p.status, p.message]),
      outcomes.map((p) => [p.status, p.message]),
    );
    t.deepEqual(
      outcomes.map((p) => p.status),
      ['published', 'failed'],
    );
    const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
    t.regex(outcomes[1]?.message ?? '', new RegExp(`${sha1('BAD!')}.*${sha1('bad!')}`));

    // The failed one again, metadata only: stored awaiting content; content add completes it.
    const meta = await runCli(['import-catalog', catalog, '--metadata-only', '--json'], env);
    t.is(meta.code, 0, meta.stderr);
    const statuses = (JSON.parse(meta.stdout) as { packages: Outcome[] }).packages.map(
      (p) => p.status,
    );
    t.deepEqual(statuses, ['unchanged', 'awaiting_content']);
    const wrong = await runCli(['content', 'add', bad.id, path.join(payloads, bad.fileName)], env);
    t.is(wrong.code, 2);
    t.is(wrong.stderr.trim().split('\n').length, 1);
    const right = path.join(home, bad.fileName);
    await writeFile(right, 'bad!');
    const added = await runCli(['content', 'add', bad.id, right, '--json'], env);
    t.is(added.code, 0, added.stderr);
    t.like(JSON.parse(added.stdout), {
      updateId: bad.id,
      revision: 2,
      created: true,
      sha1: sha1('bad!'),
    });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
