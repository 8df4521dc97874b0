import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { UpcatError, type ErrorCode } from '../../src/errors.js';
import { PublishService } from '../../src/publish/publish-service.js';
import { Readable } from 'node:stream';
import type { Site } from '../../src/app.js';
import { dbTest } from '../helpers/site.js';
import { craftZip } from '../helpers/zip.js';
import {
  fileManifest,
  makePackage,
  publishBytes,
  publishFile,
  snapshot,
} from '../helpers/publish.js';

const digest = (alg: string, s: string): string => createHash(alg).update(s).digest('hex');

async function rejects(
  t: ExecutionContext,
  site: Site,
  run: () => Promise<unknown>,
  code: ErrorCode,
  message: RegExp,
): Promise<void> {
  const before = await snapshot(site);
  const err = await t.throwsAsync(run, { instanceOf: UpcatError });
  t.is(err?.code, code);
  t.regex(err?.message ?? '', message);
  t.deepEqual(await snapshot(site), before, 'nothing stored changed');
}

dbTest(
  'publishes a new update: revision 1, catalog version 1, payload in the pool',
  async (t, { site }) => {
    const result = await publishBytes(site, 'payload one', fileManifest('tool.bin'));
    t.like(result, {
      created: true,
      revision: 1,
      catalogVersion: 1,
      size: 11,
      sha256: digest('sha256', 'payload one'),
      sha1: digest('sha1', 'payload one'),
    });
    t.true(await site.pool.verify(result.sha256));
    const update = await site.catalog.getUpdate(result.updateId);
    t.is(update?.state, 'active');
    t.deepEqual(update?.revisions[0]?.files, [
      { name: 'tool.bin', sha256: result.sha256, sha1: result.sha1, size: 11, kind: 'file' },
    ]);
  },
);

dbTest(
  'the same bytes and manifest again is idempotent: same revision, no new catalog version',
  async (t, { site }) => {
    const first = await publishBytes(site, 'same', fileManifest('tool.bin'));
    const before = await snapshot(site);
    const again = await publishBytes(site, 'same', fileManifest('tool.bin'));
    t.false(again.created);
    t.is(again.updateId, first.updateId);
    t.is(again.revision, 1);
    t.is(again.catalogVersion, first.catalogVersion);
    t.deepEqual(await snapshot(site), before);
    // Naming the assigned updateId explicitly is the same manifest too.
    const named = await publishBytes(
      site,
      'same',
      fileManifest('tool.bin', { updateId: first.updateId.toUpperCase() }),
    );
    t.false(named.created);
  },
);

dbTest(
  'the same bytes with a changed manifest make a new revision of that update',
  async (t, { site }) => {
    const first = await publishBytes(site, 'bytes', fileManifest('tool.bin'));
    const second = await publishBytes(
      site,
      'bytes',
      fileManifest('tool.bin', { description: 'now with notes' }),
    );
    t.true(second.created);
    t.is(second.updateId, first.updateId);
    t.is(second.revision, 2);
    t.is(second.catalogVersion, 2);
    const update = await site.catalog.getUpdate(first.updateId);
    t.is(update?.latestRevision, 2);
    t.is(update?.revisions.length, 2);
    // One payload stored once for both revisions (each revision adds only its own document).
    const files = (await site.db('files').distinct('sha256')) as unknown[];
    t.is(files.length, 1);
  },
);

dbTest(
  'a manifest naming an existing updateId with a new version makes a new revision',
  async (t, { site }) => {
    const first = await publishBytes(site, 'v1', fileManifest('tool.bin'));
    const second = await publishBytes(
      site,
      'v2',
      fileManifest('tool.bin', { updateId: first.updateId, version: '1.1' }),
    );
    t.is(second.updateId, first.updateId);
    t.is(second.revision, 2);
  },
);

dbTest(
  'a manifest naming an unknown updateId creates the update under that ID',
  async (t, { site }) => {
    const id = '6F1C2F0E-8C4E-4A52-9B7D-3C2F5E1A9D10';
    const result = await publishBytes(site, 'x', fileManifest('tool.bin', { updateId: id }));
    t.is(result.updateId, id.toLowerCase());
    t.is(result.revision, 1);
  },
);

dbTest(
  'the same product and version with other bytes is a conflict naming the existing update',
  async (t, { site }) => {
    const first = await publishBytes(site, 'original', fileManifest('tool.bin'));
    await rejects(
      t,
      site,
      () => publishBytes(site, 'tampered', fileManifest('tool.bin')),
      'conflict',
      new RegExp(`Contoso Tool 1\\.0 is already published as update ${first.updateId}`),
    );
  },
);

dbTest(
  'an unknown prerequisite or superseded update is an error and nothing is stored',
  async (t, { site }) => {
    const ghost = '11111111-2222-3333-4444-555555555555';
    await rejects(
      t,
      site,
      () => publishBytes(site, 'a', fileManifest('tool.bin', { prerequisites: [[ghost]] })),
      'invalid_input',
      /prerequisites: unknown update 11111111/,
    );
    await rejects(
      t,
      site,
      () => publishBytes(site, 'a', fileManifest('tool.bin', { supersedes: [ghost] })),
      'invalid_input',
      /supersedes: unknown update 11111111/,
    );
  },
);

dbTest('prerequisites are stored as an AND of OR-groups', async (t, { site }) => {
  const a = await publishBytes(site, 'a', fileManifest('tool.bin', { product: 'A' }));
  const b = await publishBytes(site, 'b', fileManifest('tool.bin', { product: 'B' }));
  const c = await publishBytes(site, 'c', fileManifest('tool.bin', { product: 'C' }));
  const d = await publishBytes(
    site,
    'd',
    fileManifest('tool.bin', {
      product: 'D',
      prerequisites: [[a.updateId], [b.updateId, c.updateId]],
    }),
  );
  const view = await site.catalog.getUpdate(d.updateId);
  t.deepEqual(view?.revisions[0]?.prerequisites, [[a.updateId], [b.updateId, c.updateId]]);
});

dbTest('a prerequisite cycle is refused', async (t, { site }) => {
  const a = await publishBytes(site, 'a', fileManifest('tool.bin', { product: 'A' }));
  const b = await publishBytes(
    site,
    'b',
    fileManifest('tool.bin', { product: 'B', prerequisites: [[a.updateId]] }),
  );
  await rejects(
    t,
    site,
    () =>
      publishBytes(
        site,
        'a',
        fileManifest('tool.bin', {
          product: 'A',
          updateId: a.updateId,
          prerequisites: [[b.updateId]],
        }),
      ),
    'invalid_input',
    /prerequisites: would make a cycle/,
  );
  await rejects(
    t,
    site,
    () =>
      publishBytes(
        site,
        'a',
        fileManifest('tool.bin', {
          product: 'A',
          updateId: a.updateId,
          prerequisites: [[a.updateId]],
        }),
      ),
    'invalid_input',
    /cannot be its own prerequisite/,
  );
});

dbTest(
  'supersedence marks the old update superseded, in a new catalog version',
  async (t, { site }) => {
    const old = await publishBytes(site, 'v1', fileManifest('tool.bin'));
    const next = await publishBytes(
      site,
      'v2',
      fileManifest('tool.bin', {
        version: '2.0',
        title: 'Contoso Tool 2.0',
        supersedes: [old.updateId],
      }),
    );
    t.is(next.catalogVersion, old.catalogVersion + 1);
    t.not(next.updateId, old.updateId);
    const oldView = await site.catalog.getUpdate(old.updateId);
    t.is(oldView?.supersededBy, next.updateId);
    t.deepEqual((await site.catalog.getUpdate(next.updateId))?.revisions[0]?.supersedes, [
      old.updateId,
    ]);
  },
);

dbTest(
  'expire withdraws an update in a new catalog version; twice is a no-op; unknown is not_found',
  async (t, { site }) => {
    const pub = await publishBytes(site, 'x', fileManifest('tool.bin'));
    const expired = await site.expire.expire(pub.updateId, 'test');
    t.deepEqual(expired, {
      updateId: pub.updateId,
      catalogVersion: pub.catalogVersion + 1,
      changed: true,
    });
    t.is((await site.catalog.getUpdate(pub.updateId))?.state, 'expired');
    t.is((await site.expire.expire(pub.updateId, 'test')).changed, false);
    t.is(await site.catalog.catalogVersion(), pub.catalogVersion + 1);
    const err = await t.throwsAsync(
      () => site.expire.expire('11111111-2222-3333-4444-555555555555', 'test'),
      { instanceOf: UpcatError },
    );
    t.is(err?.code, 'not_found');
    // An expired update takes no new revisions.
    await rejects(
      t,
      site,
      () => publishBytes(site, 'x', fileManifest('tool.bin', { description: 'more' })),
      'conflict',
      /is expired/,
    );
  },
);

dbTest(
  'a package publishes with its program checked against the package contents',
  async (t, { site, home }) => {
    const pkg = await makePackage(home, '5.0.1');
    const manifest = fileManifest('setup.sh', { product: 'Contoso Client', version: '5.0.1' });
    const result = await publishFile(site, pkg, manifest);
    const view = await site.catalog.getUpdate(result.updateId);
    t.is(view?.revisions[0]?.files[0]?.kind, 'package');
    t.is(view?.revisions[0]?.files[0]?.name, path.basename(pkg));
    await rejects(
      t,
      site,
      () =>
        publishFile(site, pkg, {
          ...manifest,
          version: '5.0.2',
          handler: { type: 'commandLine', program: 'missing.sh' },
        }),
      'invalid_input',
      /handler\.program: "missing\.sh" is not a file of the package/,
    );
  },
);

dbTest('bad payloads are refused and nothing is stored', async (t, { site, home }) => {
  await rejects(
    t,
    site,
    () => publishBytes(site, '', fileManifest('tool.bin')),
    'invalid_input',
    /payload "tool\.bin" is empty/,
  );
  await rejects(
    t,
    site,
    () =>
      publishBytes(
        site,
        'x',
        fileManifest('tool.bin', { handler: { type: 'commandLine', program: '../../etc/passwd' } }),
      ),
    'invalid_input',
    /handler\.program: .*traversal/,
  );
  await rejects(
    t,
    site,
    () =>
      publishBytes(
        site,
        'x',
        fileManifest('tool.bin', { handler: { type: 'commandLine', program: 'other.exe' } }),
      ),
    'invalid_input',
    /handler\.program: "other\.exe" must name the published file "tool\.bin"/,
  );
  const evil = path.join(home, 'evil.zip');
  await writeFile(evil, craftZip([{ name: '../evil.sh', data: 'rm -rf /' }]));
  await rejects(
    t,
    site,
    () => publishFile(site, evil, fileManifest('evil.zip')),
    'invalid_input',
    /package entry "\.\.\/evil\.sh": path traversal/,
  );
});

dbTest(
  'a payload over the size limit is refused and leaves no temporary file',
  async (t, { site }) => {
    const limited = new PublishService({
      db: site.db,
      pool: site.pool,
      log: site.log,
      signing: site.signing,
      tuf: site.tuf,
      limits: { ...site.config.limits, maxPayloadBytes: 10 },
    });
    await rejects(
      t,
      site,
      () =>
        limited.publish({
          source: Readable.from([Buffer.alloc(6), Buffer.alloc(6)]),
          fileName: 'tool.bin',
          manifest: fileManifest('tool.bin'),
          actor: 't',
        }),
      'too_large',
      /larger than the limit of 10 bytes/,
    );
  },
);

dbTest('malformed manifests name the field and store nothing', async (t, { site }) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...fileManifest('tool.bin'), title: 42 }, /title: .*expected string/],
    [{ ...fileManifest('tool.bin'), version: 'five' }, /version: must be a version/],
    [{ ...fileManifest('tool.bin'), colour: 'blue' }, /colour: unknown field/],
    [
      { ...fileManifest('tool.bin'), handler: { type: 'script' } },
      /handler\.type: must have "type" commandLine or msi/,
    ],
    [{ ...fileManifest('tool.bin'), classification: 'Misc' }, /classification: /],
    [
      { ...fileManifest('tool.bin'), prerequisites: [[]] },
      /prerequisites\[0\]: an OR-group must name at least one update/,
    ],
    [
      { ...fileManifest('tool.bin'), supersedes: ['not-a-guid'] },
      /supersedes\[0\]: must be a GUID/,
    ],
    [
      (() => {
        const m = fileManifest('tool.bin');
        delete m['product'];
        return m;
      })(),
      /product: .*expected string/,
    ],
  ];
  for (const [manifest, message] of cases) {
    await rejects(t, site, () => publishBytes(site, 'x', manifest), 'invalid_input', message);
  }
});
