import type { ExecutionContext } from 'ava';
import type { Site } from '../../src/app.js';
import { UpcatError } from '../../src/errors.js';
import type { UpdateSummary } from '../../src/site/update-query.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';

/** Every page of a list with these filters, following `next` to the end. */
async function allPages(
  site: Site,
  query: Record<string, string>,
): Promise<{ items: UpdateSummary[]; pages: number }> {
  const items: UpdateSummary[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const page = await site.updateAdmin.list(cursor === null ? query : { ...query, cursor });
    items.push(...page.items);
    pages += 1;
    cursor = page.next;
  } while (cursor !== null && pages < 100);
  return { items, pages };
}

async function publishSome(site: Site): Promise<Array<{ updateId: string; title: string }>> {
  const specs = [
    { title: 'Contoso Tool 1.0', product: 'Contoso Tool', classification: 'Updates' },
    { title: 'Contoso Tool 2.0 (100%_done)', product: 'Contoso Tool', classification: 'Updates' },
    { title: 'Fabrikam Agent 7', product: 'Fabrikam Agent', classification: 'Security Updates' },
    { title: 'fabrikam agent 8', product: 'Fabrikam Agent', classification: 'Security Updates' },
    { title: 'Northwind Driver', product: 'Northwind', classification: 'Drivers' },
  ];
  const out = [];
  for (const [i, s] of specs.entries()) {
    const pub = await publishBytes(
      site,
      `payload-${i}`,
      fileManifest(`p${i}.bin`, { ...s, version: `${i}.0` }),
      `p${i}.bin`,
    );
    out.push({ updateId: pub.updateId, title: s.title });
  }
  return out;
}

/** Publishes `<name>.bin` holding `name`. */
function publishNamed(site: Site, name: string, over: Record<string, unknown>) {
  return publishBytes(site, name, fileManifest(`${name}.bin`, over), `${name}.bin`);
}

const idsOf = (items: UpdateSummary[]): string[] => items.map((u) => u.updateId);

/** The list's order: newest published first, the update ID breaking ties. */
function sortedNewestFirst(items: UpdateSummary[]): UpdateSummary[] {
  return [...items].sort((a, b) =>
    a.published === b.published
      ? b.updateId.localeCompare(a.updateId)
      : b.published.localeCompare(a.published),
  );
}

dbTest(
  'updates list: a list over several pages returns every update exactly once, in order',
  async (t, { site }) => {
    const published = await publishSome(site);
    const { items, pages } = await allPages(site, { limit: '2' });
    t.is(pages, 3);
    t.is(items.length, published.length);
    t.is(new Set(idsOf(items)).size, published.length);
    t.deepEqual(idsOf(items).sort(), published.map((p) => p.updateId).sort());
    t.deepEqual(idsOf(items), idsOf(sortedNewestFirst(items)));
    // The newest one first (published last).
    t.is(items[0]?.updateId, published[published.length - 1]?.updateId);
    // One page of everything is the same list.
    const one = await site.updateAdmin.list({});
    t.deepEqual(idsOf(one.items), idsOf(items));
    t.is(one.next, null);
  },
);

dbTest(
  'updates list: ties on the published time are broken by update ID, with no row skipped',
  async (t, { site }) => {
    await publishSome(site);
    // Several updates published in the same millisecond (an import does this).
    await site.db('revisions').update({ created_at: '2026-01-01T00:00:00.000Z' });
    const { items } = await allPages(site, { limit: '1' });
    t.is(items.length, 5);
    t.deepEqual(idsOf(items), [...idsOf(items)].sort().reverse());
  },
);

dbTest(
  'updates list: product, classification, title search, status and since filters',
  async (t, { site }) => {
    const p = await publishSome(site);
    const ids = (items: UpdateSummary[]): string[] => idsOf(items).sort();
    const want = (...i: number[]): string[] => i.map((n) => p[n]?.updateId ?? '').sort();
    const list = async (q: Record<string, string>): Promise<UpdateSummary[]> =>
      (await site.updateAdmin.list(q)).items;

    t.deepEqual(ids(await list({ product: 'Contoso Tool' })), want(0, 1));
    t.deepEqual(ids(await list({ classification: 'Security Updates' })), want(2, 3));
    // Case-insensitive substring, on both databases.
    t.deepEqual(ids(await list({ q: 'FABRIKAM' })), want(2, 3));
    t.deepEqual(ids(await list({ q: 'agent 8' })), want(3));
    // LIKE's own characters are taken literally.
    t.deepEqual(ids(await list({ q: '100%_' })), want(1));
    t.deepEqual(ids(await list({ q: '%' })), want(1));
    t.deepEqual(ids(await list({ q: '_' })), want(1));
    t.deepEqual(await list({ q: 'o_l' }), [], '_ is no wildcard');
    t.deepEqual(ids(await list({ q: 'Contoso', classification: 'Drivers' })), []);

    // Status: live, superseded, expired, declined.
    const next = await publishBytes(
      site,
      'successor',
      fileManifest('s.bin', {
        title: 'Northwind Driver 2',
        product: 'Northwind',
        classification: 'Drivers',
        version: '9.0',
        supersedes: [p[4]?.updateId],
      }),
      's.bin',
    );
    await site.expire.expire(p[0]?.updateId ?? '', 'test');
    await site.updateAdmin.decline(p[2]?.updateId ?? '', 'test');
    t.deepEqual(ids(await list({ status: 'superseded' })), want(4));
    t.deepEqual(ids(await list({ status: 'expired' })), want(0));
    t.deepEqual(ids(await list({ status: 'declined' })), want(2));
    t.deepEqual(ids(await list({ status: 'live' })), [...want(1, 3), next.updateId].sort());
    t.like((await list({ status: 'declined' }))[0], {
      status: 'declined',
      product: 'Fabrikam Agent',
      revision: 1,
    });

    // Since: the latest revision's publish time.
    await site
      .db('revisions')
      .whereNot('update_id', next.updateId)
      .update({ created_at: '2025-06-01T00:00:00.000Z' });
    t.deepEqual(ids(await list({ since: '2026-01-01T00:00:00Z' })), [next.updateId]);
    t.is((await list({ since: '2025-06-01' })).length, 6);
  },
);

async function refused(t: ExecutionContext, work: () => Promise<unknown>, field: RegExp) {
  const err = await t.throwsAsync(work, { instanceOf: UpcatError });
  t.is(err?.code, 'invalid_input');
  t.regex(err?.message ?? '', field);
}

dbTest('updates list: bad filters are refused, naming the parameter', async (t, { site }) => {
  const list = (q: Record<string, unknown>) => () => site.updateAdmin.list(q);
  await refused(t, list({ status: 'alive' }), /^status: must be one of live/);
  await refused(t, list({ since: 'yesterday' }), /^since: /);
  await refused(t, list({ limit: '0' }), /^limit: /);
  await refused(t, list({ limit: 'ten' }), /^limit: /);
  await refused(t, list({ cursor: 'not a cursor' }), /^cursor: /);
  await refused(t, list({ cursor: Buffer.from('[1,2]').toString('base64url') }), /^cursor: /);
  await refused(t, list({ product: ['a', 'b'] }), /^product: give it once/);
  await refused(t, list({ q: 'x'.repeat(300) }), /^q: must be 1 to 256/);
  await refused(t, list({ q: 'a\u0000b' }), /^q: must not hold control/);
  await refused(t, list({ title: 'x' }), /^title: unknown parameter/);
});

dbTest(
  'update detail: every revision with files, rules, relationships and deployments',
  async (t, { site }) => {
    const base = await publishNamed(site, 'base', { title: 'Base' });
    const old = await publishNamed(site, 'old', { title: 'Old', product: 'Old', version: '0.9' });
    const first = await publishBytes(
      site,
      'v1',
      fileManifest('tool.bin', { title: 'Tool 1', product: 'Tool', version: '1.0' }),
    );
    const second = await publishBytes(
      site,
      'v2 bytes',
      fileManifest('tool.bin', {
        updateId: first.updateId,
        title: 'Tool 1 (rev 2)',
        product: 'Tool',
        version: '1.0.1',
        isInstalled: { FileExists: { Path: '/opt/tool/1.0.1' } },
        prerequisites: [[base.updateId]],
        supersedes: [old.updateId],
      }),
    );
    t.is(second.updateId, first.updateId);
    await site.groups.create('ring1', 'test');
    await site.deployments.approve(
      {
        updateId: first.updateId,
        group: 'ring1',
        action: 'install',
        deadline: '2030-01-01T00:00:00Z',
        percent: 25,
      },
      'test',
    );

    const d = await site.updateAdmin.show(first.updateId);
    t.like(d, {
      updateId: first.updateId,
      title: 'Tool 1 (rev 2)',
      product: 'Tool',
      status: 'live',
      latestRevision: 2,
      declinedAt: null,
      supersededBy: null,
    });
    t.deepEqual(
      d.revisions.map((r) => r.revision),
      [1, 2],
    );
    const [r1, r2] = d.revisions;
    t.deepEqual(r1?.files, [
      { name: 'tool.bin', size: 2, sha256: first.sha256, sha1: first.sha1, kind: 'file' },
    ]);
    t.deepEqual(r2?.files, [
      { name: 'tool.bin', size: 8, sha256: second.sha256, sha1: second.sha1, kind: 'file' },
    ]);
    t.deepEqual(r1?.isInstallable, { Platform: { Name: 'linux' } });
    t.is(r1?.isInstalled, null);
    t.deepEqual(r2?.isInstalled, { FileExists: { Path: '/opt/tool/1.0.1' } });
    t.like(r2?.handler, { type: 'commandLine', program: 'tool.bin' });
    t.deepEqual(r1?.prerequisites, []);
    t.deepEqual(r2?.prerequisites, [[base.updateId]]);
    t.deepEqual(r2?.supersedes, [old.updateId]);
    t.deepEqual(r2?.bundles, []);
    t.deepEqual(d.deployments, [
      {
        group: 'ring1',
        action: 'install',
        deadline: '2030-01-01T00:00:00.000Z',
        percent: 25,
        catalogVersion: d.deployments[0]?.catalogVersion ?? -1,
        offered: true,
      },
    ]);

    // The other side of each relationship.
    const oldView = await site.updateAdmin.show(old.updateId);
    t.is(oldView.status, 'superseded');
    t.is(oldView.supersededBy, first.updateId);
    t.deepEqual(oldView.namedBy.supersedes, [first.updateId]);
    t.deepEqual((await site.updateAdmin.show(base.updateId)).namedBy.prerequisite, [
      first.updateId,
    ]);
  },
);

dbTest(
  'update IDs may be given by a unique prefix; unknown is not_found, ambiguous names candidates',
  async (t, { site }) => {
    const a = await publishNamed(site, 'a', { product: 'A' });
    t.is((await site.updateAdmin.show(a.updateId.slice(0, 8))).updateId, a.updateId);
    t.is((await site.updateAdmin.show(a.updateId.toUpperCase())).updateId, a.updateId);
    const unknown = await t.throwsAsync(() => site.updateAdmin.show('ffff0000'), {
      instanceOf: UpcatError,
    });
    t.is(unknown?.code, 'not_found');
    const missing = await t.throwsAsync(
      () => site.updateAdmin.decline('11111111-2222-3333-4444-555555555555', 'test'),
      { instanceOf: UpcatError },
    );
    t.is(missing?.code, 'not_found');
    await refused(t, () => site.updateAdmin.show('ab'), /^updateId: .*at least 4/);
    await refused(t, () => site.updateAdmin.show('zzzz'), /^updateId: /);
    // Two updates whose IDs share a prefix (IDs are random: make them share one).
    const shared = 'abcd0000-0000-4000-8000-00000000000';
    for (const n of [1, 2]) {
      await site.db('updates').insert({
        update_id: `${shared}${n}`,
        product: 'X',
        classification: 'Updates',
        state: 'active',
        created_at: new Date().toISOString(),
        latest_revision: 1,
      });
    }
    await refused(
      t,
      () => site.updateAdmin.decline('abcd', 'test'),
      /^updateId: abcd is ambiguous \(abcd0000-0000-4000-8000-000000000001, abcd0000-0000-4000-8000-000000000002\)/,
    );
  },
);
