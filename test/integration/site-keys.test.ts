import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { isUpcatError } from '../../src/errors.js';
import { pkiPaths } from '../../src/signing/ca.js';
import { agreeSiteKeys, loadPolicySigner, syncKeysDir } from '../../src/sync/site-keys.js';
import { dbTest } from '../helpers/site.js';

/**
 * Issue 15 item 3: the policy key and the anchor key are made once per site. The database
 * records their fingerprints; another node's signing/ directory must hold the same keys, or
 * that node refuses to start with one line that says what to copy.
 */

const run = promisify(execFile);

/** Runs `fn` with the signing/ directories of `count` other nodes (empty, in temporary homes). */
async function withNodes(count: number, fn: (signing: string[]) => Promise<void>): Promise<void> {
  const homes: string[] = [];
  try {
    for (let i = 0; i < count; i++)
      homes.push(await mkdtemp(path.join(os.tmpdir(), 'upcat-node-')));
    await fn(homes.map((h) => path.join(h, 'signing')));
  } finally {
    for (const h of homes) await rm(h, { recursive: true, force: true });
  }
}

async function refusal(run: Promise<void>): Promise<string> {
  try {
    await run;
  } catch (err) {
    if (isUpcatError(err) && err.code === 'integrity') return err.message;
    throw err;
  }
  throw new Error('the node was not refused');
}

dbTest('site keys: recorded once, the same files agree again', async (t, { site }) => {
  const signing = site.config.dirs.signing;
  await agreeSiteKeys(site.db, signing);
  const rows = await site.db('site_keys').orderBy('name').select('name', 'fingerprint');
  t.deepEqual(
    rows.map((r: { name: string }) => r.name),
    ['anchor', 'ca', 'policy'],
  );
  // The policy key's fingerprint is its TUF keyid (public); the anchor key's is one-way.
  const policy = await loadPolicySigner(signing);
  t.is(rows.find((r: { name: string }) => r.name === 'policy')?.fingerprint, policy.key.keyid);
  const anchorHex = (await readFile(path.join(syncKeysDir(signing), 'anchor.key'), 'utf8')).trim();
  t.false(JSON.stringify(rows).includes(anchorHex));
  await agreeSiteKeys(site.db, signing); // a restart
  t.is(
    await site
      .db('site_keys')
      .count({ n: '*' })
      .first()
      .then((r) => Number(r?.['n'])),
    3,
  );
});

dbTest('site keys: a node with the site signing/ copied starts', async (t, { site }) => {
  await agreeSiteKeys(site.db, site.config.dirs.signing);
  await withNodes(1, async ([node = '']) => {
    await cp(site.config.dirs.signing, node, { recursive: true });
    await t.notThrowsAsync(agreeSiteKeys(site.db, node));
  });
});

dbTest('site keys: a node that made its own keys is refused', async (t, { site }) => {
  await agreeSiteKeys(site.db, site.config.dirs.signing);
  await withNodes(1, async ([node = '']) => {
    await loadPolicySigner(node); // the lazy creation of an older version
    const message = await refusal(agreeSiteKeys(site.db, node));
    t.regex(message, /policy-key\.json is not the site's policy key/);
    t.regex(message, /copy the site's signing\/ directory from its first node/);
    t.false(message.includes('\n'));
  });
});

dbTest(
  'site keys: a node with another site CA (upcat init run on it) is refused',
  async (t, { site }) => {
    await agreeSiteKeys(site.db, site.config.dirs.signing);
    await withNodes(1, async ([node = '']) => {
      await cp(site.config.dirs.signing, node, { recursive: true });
      const ca = pkiPaths(node).caCert;
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        `${ca}.other-key`,
        '-out',
        ca,
        '-subj',
        '/CN=Another CA',
        '-days',
        '1',
      ]);
      const message = await refusal(agreeSiteKeys(site.db, node));
      t.regex(message, /ca\.pem is not the site's ca key/);
    });
  },
);

dbTest('site keys: a node with none is refused and makes none', async (t, { site }) => {
  await agreeSiteKeys(site.db, site.config.dirs.signing);
  await withNodes(1, async ([node = '']) => {
    const message = await refusal(agreeSiteKeys(site.db, node));
    t.regex(message, /is missing but the database records the site's policy key/);
    await t.throwsAsync(stat(syncKeysDir(node)), { code: 'ENOENT' });
  });
});

dbTest('site keys: two new nodes at once, one record wins', async (t, { site }) => {
  await withNodes(2, async (nodes) => {
    const results = await Promise.allSettled(nodes.map((n) => agreeSiteKeys(site.db, n)));
    t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
    t.is((await site.db('site_keys').select('name')).length, 2);
  });
});
