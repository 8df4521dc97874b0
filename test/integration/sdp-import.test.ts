/**
 * Issue 11 items 1-3: vendor catalogs imported faithfully, payloads checked against the
 * catalog's digests, metadata-only packages never offered until their content arrives.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import request from 'supertest';
import type { Site } from '../../src/app.js';
import {
  importCatalogXml,
  type CatalogImportOptions,
  type CatalogImportResult,
} from '../../src/publish/sdp/index.js';
import { addContent } from '../../src/publish/sdp/content-service.js';
import { desiredCatalog } from '../../src/publish/catalog-targets.js';
import { createApp } from '../../src/server/app.js';
import type { SignedPolicy } from '../../src/sync/sync-service.js';
import { packageBody, standaloneSdp, vendorCatalog } from '../../bench/vendor-catalog-gen.js';
import { register, registration } from '../helpers/clients.js';
import { validateSdpFiles } from '../helpers/sdp-schema.js';
import { dbTest } from '../helpers/site.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'upcat-sdp-import-'));
}

function options(site: Site, over: Partial<CatalogImportOptions> = {}): CatalogImportOptions {
  return {
    dryRun: false,
    site: { ...site, limits: site.config.limits },
    actor: 'test',
    ...over,
  };
}

/** Row counts of every table an import writes. */
async function counts(site: Site): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of [
    'updates',
    'revisions',
    'files',
    'relationships',
    'vendor_revisions',
    'pending_references',
    'catalog_versions',
    'audit_log',
  ]) {
    const row = (await site.db(table).count({ n: '*' }).first()) as { n: number | string };
    out[table] = Number(row.n);
  }
  return out;
}

const sha1Hex = (b: Buffer) => createHash('sha1').update(b).digest('hex');

dbTest(
  'faithful import: identity, supersedence, return codes, reboot, vendor fields, digests',
  async (t, { site }) => {
    const dir = await tempDir();
    try {
      const history = Array.from({ length: 400 }, () => randomUUID());
      const bios = packageBody({
        payload: Buffer.from('bios flash'),
        title: 'Contoso BIOS 1.14.0',
        product: 'BIOS',
        supersedes: history,
        rebootBehavior: 'AlwaysRequiresReboot',
        returnCodes: [
          { code: 0, result: 'Succeeded' },
          { code: 2, result: 'Succeeded', reboot: true },
          { code: 2, result: 'Failed' },
        ],
        severity: 'Critical',
        kb: 'KB1234',
        bulletin: 'DSA-2024-1',
        cves: ['CVE-2024-0001', 'CVE-2024-0002'],
        moreInfoUrl: 'https://vendor.example/bios',
        supportUrl: 'https://vendor.example/support',
        originUri: 'https://downloads.example/bios.exe',
        fileVersion: '1.14.0.3',
      });
      // Two unrelated packages under the vendor's category "Driver", with the same version.
      const wifi = packageBody({
        payload: Buffer.from('wifi driver'),
        title: 'Intel 802.11ac Wireless Driver [16.1.3.1.A11-1]',
      });
      const audio = packageBody({
        payload: Buffer.from('audio driver'),
        title: 'Realtek Audio Driver [16.1.3.1.A02]',
      });
      const lying = packageBody({ payload: Buffer.from('expected bytes'), title: 'Lying 1.0' });
      const xml = vendorCatalog([bios.xml, wifi.xml, audio.xml, lying.xml]);

      // The generated packages are valid SDPs by Microsoft's schemas (an independent check).
      const sdpFile = path.join(dir, 'bios.sdp');
      await writeFile(sdpFile, standaloneSdp(bios.xml));
      const [validity] = await validateSdpFiles([sdpFile]);
      t.true(validity?.valid, validity?.output);

      await writeFile(path.join(dir, bios.fileName), 'bios flash');
      await writeFile(path.join(dir, wifi.fileName), 'wifi driver');
      await writeFile(path.join(dir, audio.fileName), 'audio driver');
      await writeFile(path.join(dir, lying.fileName), 'other bytes');

      const result = await importCatalogXml(xml, options(site, { payloadDir: dir, batchSize: 2 }));
      t.deepEqual(
        result.packages.map((p) => p.status),
        ['published', 'published', 'published', 'failed'],
      );
      const failure = result.packages[3]?.message ?? '';
      t.regex(failure, new RegExp(sha1Hex(Buffer.from('other bytes'))));
      t.regex(failure, new RegExp(sha1Hex(Buffer.from('expected bytes'))));

      // PackageID is the UpdateID; product and title as given; version from the detection rule.
      const biosRev = (await site.db('revisions').where({ update_id: bios.id }).first()) as Record<
        string,
        unknown
      >;
      t.like(biosRev, { product: 'BIOS', title: 'Contoso BIOS 1.14.0', version: '1.14.0.3' });
      t.false(result.packages[0]?.versionGuessed);
      // A version from the title is a bracketed token, said to be a guess: never "802.11".
      t.like(result.packages[1], { version: '16.1.3.1', versionGuessed: true });
      t.regex(result.packages[1]?.versionSource ?? '', /guessed/);
      t.like(result.packages[2], { version: '16.1.3.1' });

      // Return codes as the vendor wrote them: the first of a duplicated code wins, reported.
      const handler = JSON.parse(String(biosRev['handler'])) as { returnCodes: unknown[] };
      t.deepEqual(handler.returnCodes, [
        { code: 0, result: 'Succeeded', reboot: false },
        { code: 2, result: 'Succeeded', reboot: true },
      ]);
      t.true(result.packages[0]?.unmapped.some((u) => /code 2 is listed again/.test(u.reason)));

      // 400 superseded packages, none on the site: all kept, pending.
      const pending = await site
        .db('pending_references')
        .where({ update_id: bios.id, kind: 'supersedes' });
      t.is(pending.length, 400);

      // Vendor metadata and the payload's expected digests are stored.
      const vendorRow = (await site
        .db('vendor_revisions')
        .where({ revision_id: biosRev['id'] })
        .first()) as Record<string, unknown>;
      const meta = JSON.parse(String(vendorRow['metadata'])) as Record<string, unknown>;
      t.like(meta, {
        vendor: 'Contoso',
        creationDate: '2024-03-05T10:20:30Z',
        severity: 'Critical',
        kbArticleId: 'KB1234',
        securityBulletinId: 'DSA-2024-1',
        cveIds: ['CVE-2024-0001', 'CVE-2024-0002'],
        moreInfoUrls: ['https://vendor.example/bios'],
        supportUrl: 'https://vendor.example/support',
        installProperties: { rebootBehavior: 'AlwaysRequiresReboot' },
      });
      t.like(vendorRow, {
        expected_sha1: sha1Hex(Buffer.from('bios flash')),
        origin_uri: 'https://downloads.example/bios.exe',
        origin_file_name: bios.fileName,
      });
      t.is(Number(vendorRow['expected_size']), 10);

      // The reboot behaviour reaches the published update document, not recomputed.
      const doc = (await site
        .db('revisions')
        .where({ update_id: bios.id })
        .first('document_sha256')) as {
        document_sha256: string;
      };
      const text = await import('node:fs/promises').then((fs) =>
        fs.readFile(site.pool.pathOf(doc.document_sha256), 'utf8'),
      );
      t.regex(text, /RebootBehavior="AlwaysRequiresReboot"/);

      // A later import brings one of the superseded packages: the reference resolves.
      const old = packageBody({
        id: history[7],
        payload: Buffer.from('old bios'),
        title: 'Contoso BIOS 1.13.0',
        product: 'BIOS',
      });
      await writeFile(path.join(dir, old.fileName), 'old bios');
      const second = await importCatalogXml(
        vendorCatalog([old.xml]),
        options(site, { payloadDir: dir }),
      );
      t.is(second.packages[0]?.status, 'published');
      const oldUpdate = (await site.db('updates').where({ update_id: history[7] }).first()) as {
        superseded_by: string;
      };
      t.is(oldUpdate.superseded_by, bios.id);
      t.is((await site.db('pending_references').where({ update_id: bios.id })).length, 399);
      t.is(
        (await site.db('relationships').where({ target_update_id: history[7], kind: 'supersedes' }))
          .length,
        1,
      );

      // Importing the same catalog again changes nothing.
      const again = await importCatalogXml(xml, options(site, { payloadDir: dir }));
      t.deepEqual(
        again.packages.slice(0, 3).map((p) => p.status),
        ['unchanged', 'unchanged', 'unchanged'],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

/** A dry run, then the real run: the dry run stores nothing and predicts every package. */
async function dryThenReal(
  t: ExecutionContext,
  site: Site,
  xml: string,
  over: Partial<CatalogImportOptions>,
): Promise<CatalogImportResult> {
  const before = await counts(site);
  const dry = await importCatalogXml(xml, options(site, { ...over, dryRun: true }));
  t.deepEqual(await counts(site), before, 'a dry run stores nothing');
  const real = await importCatalogXml(xml, options(site, over));
  const view = (r: CatalogImportResult) =>
    r.packages.map((p) => ({ status: p.status, message: p.message, revision: p.revision }));
  t.deepEqual(view(dry), view(real));
  return real;
}

dbTest(
  'dry run predicts the real run package by package, failures included, and stores nothing',
  async (t, { site }) => {
    const dir = await tempDir();
    try {
      const a = packageBody({ payload: Buffer.from('a'), title: 'A 1.0' });
      const b = packageBody({
        payload: Buffer.from('b'),
        title: 'B 1.0',
        digestOverride: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      });
      const c = packageBody({ payload: Buffer.from('c'), title: 'C 1.0' }); // its file is missing
      const d = packageBody({ payload: Buffer.from('d'), title: 'D 1.0', supersedes: [a.id] });
      // An update that exists with another product: a conflict only the site can tell.
      const e = packageBody({ payload: Buffer.from('e'), title: 'E 1.0', product: 'Firmware' });
      await importCatalogXml(
        vendorCatalog([
          packageBody({ id: e.id, payload: Buffer.from('e0'), title: 'E 0.9', product: 'Software' })
            .xml,
        ]),
        options(site, { metadataOnly: true }),
      );
      for (const [p, body] of [
        [a, 'a'],
        [b, 'b'],
        [d, 'd'],
        [e, 'e'],
      ] as const) {
        await writeFile(path.join(dir, p.fileName), body);
      }
      const xml = vendorCatalog([a.xml, b.xml, c.xml, d.xml, e.xml, '<sdp:Properties/>']);
      const real = await dryThenReal(t, site, xml, { payloadDir: dir, batchSize: 2 });
      t.deepEqual(
        real.packages.map((p) => p.status),
        ['published', 'failed', 'failed', 'published', 'failed', 'invalid'],
      );
      t.regex(real.packages[2]?.message ?? '', /not in/);
      t.regex(real.packages[4]?.message ?? '', /product "Software"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

dbTest(
  'metadata-only dry run (no writes when no package can bring content) predicts the real run package by package',
  async (t, { site }) => {
    const dir = await tempDir();
    try {
      const kept = packageBody({ payload: Buffer.from('k'), title: 'K 1.0' });
      const changed = packageBody({ payload: Buffer.from('c'), title: 'C 1.0' });
      const other = packageBody({ payload: Buffer.from('o'), title: 'O 1.0', product: 'Software' });
      await importCatalogXml(
        vendorCatalog([kept.xml, changed.xml, other.xml]),
        options(site, { metadataOnly: true }),
      );
      const fresh = packageBody({
        payload: Buffer.from('f'),
        title: 'F 1.0',
        supersedes: [kept.id],
      });
      const catalog = (extra: string[]) =>
        vendorCatalog([
          kept.xml,
          packageBody({ id: changed.id, payload: Buffer.from('c2'), title: 'C 2.0' }).xml,
          // An update that exists with another product: a conflict only the site can tell.
          packageBody({
            id: other.id,
            payload: Buffer.from('o'),
            title: 'O 1.0',
            product: 'Firmware',
          }).xml,
          fresh.xml,
          // The same update twice in one catalog: the second is a new revision of the first.
          packageBody({ id: fresh.id, payload: Buffer.from('f2'), title: 'F 2.0' }).xml,
          '<sdp:Properties/>',
          ...extra,
        ]);
      const compare = async (xml: string, expected: string[]) => {
        const real = await dryThenReal(t, site, xml, { metadataOnly: true, batchSize: 2 });
        t.deepEqual(
          real.packages.map((p) => p.status),
          expected,
        );
        return real;
      };
      const real = await compare(catalog([]), [
        'awaiting_content',
        'awaiting_content',
        'failed',
        'awaiting_content',
        'awaiting_content',
        'invalid',
      ]);
      t.like(real.packages[0], { revision: 1, message: 'unchanged; still awaiting content' });
      t.like(real.packages[1], { revision: 2 });
      t.like(real.packages[4], { revision: 2 });

      // A payload the pool already holds can bring content: the dry run takes the full path.
      const pooled = packageBody({ payload: Buffer.from('p'), title: 'P 1.0' });
      await writeFile(path.join(dir, pooled.fileName), 'p');
      await importCatalogXml(vendorCatalog([pooled.xml]), options(site, { payloadDir: dir }));
      const again = packageBody({ id: pooled.id, payload: Buffer.from('p'), title: 'P 1.1' });
      const second = await compare(catalog([again.xml]), [
        'awaiting_content',
        'awaiting_content',
        'failed',
        'awaiting_content',
        'awaiting_content',
        'invalid',
        'published',
      ]);
      t.like(second.packages[6], { revision: 2 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

interface SyncBody {
  policy: SignedPolicy;
}

async function offered(site: Site, secret: string): Promise<string[]> {
  const res = await request(createApp(site))
    .get('/v1/sync')
    .set('Authorization', `Bearer ${secret}`);
  t0(res.status === 200, `sync answered ${res.status}`);
  return (res.body as SyncBody).policy.signed.deployments.map((d) => d.updateId);
}

function t0(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

async function targetNames(site: Site): Promise<string[]> {
  return (await desiredCatalog(site.db)).targets.map((x) => x.name);
}

dbTest(
  'metadata-only: stored, approvable, never offered until content add brings matching bytes',
  async (t, { site }) => {
    const dir = await tempDir();
    try {
      const payload = Buffer.from('driver payload bytes');
      const pkg = packageBody({ payload, title: 'Driver 2.0' });
      const result = await importCatalogXml(
        vendorCatalog([pkg.xml]),
        options(site, { metadataOnly: true }),
      );
      t.is(result.packages[0]?.status, 'awaiting_content');
      t.deepEqual(await site.db('files'), []);

      site.config.site.approval = 'auto-all';
      const client = await register(createApp(site), registration());
      const group = await site.groups.create('ring0', 'test');
      await site.groups.addClient(group.name, client.body.clientId, 'test');
      await site.deployments.approve(
        { updateId: pkg.id, group: 'ring0', action: 'install' },
        'test',
      );
      t.deepEqual(await offered(site, client.body.secret), [], 'not in the policy');
      t.false(
        (await targetNames(site)).some((n) => n.includes(pkg.id)),
        'not a TUF target',
      );

      const wrong = path.join(dir, 'wrong.exe');
      await writeFile(wrong, 'DRIVER PAYLOAD BYTES');
      const err = await t.throwsAsync(
        addContent({ ...site, limits: site.config.limits }, pkg.id, { file: wrong }, 'test'),
      );
      t.regex(
        err?.message ?? '',
        new RegExp(`${sha1Hex(Buffer.from('DRIVER PAYLOAD BYTES'))}.*${sha1Hex(payload)}`),
      );
      t.deepEqual(await offered(site, client.body.secret), []);

      const right = path.join(dir, pkg.fileName);
      await writeFile(right, payload);
      const added = await addContent(
        { ...site, limits: site.config.limits },
        pkg.id,
        { file: right },
        'test',
      );
      t.like(added, { revision: 2, created: true, sha1: sha1Hex(payload) });
      t.deepEqual(await offered(site, client.body.secret), [pkg.id]);
      const names = await targetNames(site);
      t.true(names.includes(`updates/${pkg.id}.xml`));
      t.true(names.includes(`payloads/${added.sha256}`));
      // The repository on disk follows: the new targets are signed.
      const again = await addContent(
        { ...site, limits: site.config.limits },
        pkg.id,
        { file: right },
        'test',
      );
      t.false(again.created);

      // A later metadata-only import of the same catalog keeps the content.
      const reimport = await importCatalogXml(
        vendorCatalog([pkg.xml]),
        options(site, { metadataOnly: true }),
      );
      t.is(reimport.packages[0]?.status, 'unchanged');
      t.deepEqual(await offered(site, client.body.secret), [pkg.id]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

dbTest(
  'a database failure inside a batch leaves none of that batch stored',
  async (t: ExecutionContext, { site, kind }) => {
    const packages = Array.from({ length: 5 }, (_, i) =>
      packageBody({ payload: Buffer.from(`p${i}`), title: `P ${i}.0` }),
    );
    const doomed = packages[3]?.id ?? '';
    if (kind === 'sqlite') {
      await site.db.raw(
        `create trigger boom before insert on vendor_revisions when (select update_id from revisions where id = new.revision_id) = '${doomed}' begin select raise(abort, 'simulated crash'); end`,
      );
    } else {
      await site.db.raw(
        `create function boom() returns trigger as $$ begin if (select update_id from revisions where id = new.revision_id) = '${doomed}' then raise exception 'simulated crash'; end if; return new; end $$ language plpgsql`,
      );
      await site.db.raw(
        'create trigger boom before insert on vendor_revisions for each row execute function boom()',
      );
    }
    await t.throwsAsync(
      importCatalogXml(
        vendorCatalog(packages.map((p) => p.xml)),
        options(site, { metadataOnly: true, batchSize: 2 }),
      ),
      { message: /simulated crash/ },
    );
    const stored = (await site.db('updates').select('update_id')).map(
      (r: { update_id: string }) => r.update_id,
    );
    t.deepEqual(stored.sort(), [packages[0]?.id, packages[1]?.id].sort(), 'the first batch only');
    t.is((await site.db('revisions')).length, 2);
    t.is((await site.db('vendor_revisions')).length, 2);
  },
);

dbTest(
  '--fetch: payloads downloaded from their OriginUri are published only when they match',
  async (t, { site }) => {
    const dir = await tempDir();
    const served: Record<string, Buffer> = {
      '/good.exe': Buffer.from('the vendor payload'),
      '/bad.exe': Buffer.from('THE VENDOR PAYLOAD'),
    };
    const server = http.createServer((req, res) => {
      const body = served[req.url ?? ''];
      if (body === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const payload = Buffer.from('the vendor payload');
      const good = packageBody({
        payload,
        title: 'Good 1.0',
        fileName: 'good.exe',
        originUri: `${base}/good.exe`,
      });
      const bad = packageBody({
        payload,
        title: 'Bad 1.0',
        fileName: 'bad.exe',
        originUri: `${base}/bad.exe`,
      });
      const result = await importCatalogXml(
        vendorCatalog([good.xml, bad.xml]),
        options(site, { fetch: { dir: path.join(dir, 'fetch'), timeoutMs: 10_000, attempts: 2 } }),
      );
      t.deepEqual(
        result.packages.map((p) => p.status),
        ['published', 'failed'],
      );
      t.regex(
        result.packages[1]?.message ?? '',
        new RegExp(`${sha1Hex(served['/bad.exe'] as Buffer)}.*${sha1Hex(payload)}`),
      );
      const files = (await site.db('files').select('name', 'sha1')) as Array<{
        name: string;
        sha1: string;
      }>;
      t.deepEqual(files, [{ name: 'good.exe', sha1: sha1Hex(payload) }]);
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
