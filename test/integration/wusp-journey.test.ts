/**
 * The whole Windows Update Agent sequence against a real server (issue 12 item 8), on SQLite and
 * PostgreSQL: the simulator (test/helpers/wua-simulator.ts) talks HTTP to the site's app.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import type { Site } from '../../src/app.js';
import { publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import {
  all,
  filesOf,
  pick,
  serve,
  windowsManifest,
  WuaFault,
  WuaSimulator,
  deployToAll,
} from '../helpers/wua-simulator.js';

const run = promisify(execFile);

async function publishClient(site: Site, version = '5.0.1', updateId?: string) {
  return publishBytes(
    site,
    Buffer.from(`MZ fake installer ${version} `.repeat(2000)),
    windowsManifest({
      version,
      title: `Contoso Client ${version}`,
      ...(updateId === undefined ? {} : { updateId }),
    }),
    'setup.exe',
  );
}

async function withServer(site: Site, fn: (url: string) => Promise<void>): Promise<void> {
  const server = await serve(site);
  try {
    await fn(server.url);
  } finally {
    await server.close();
  }
}

async function clientIdOf(site: Site, susClientId: string): Promise<string> {
  const row = (await site
    .db('wusp_computers')
    .where({ sus_client_id: susClientId })
    .first('client_id')) as { client_id: string };
  return row.client_id;
}

async function checkCab(
  t: ExecutionContext,
  site: Site,
  bytes: Buffer,
  inner: string,
): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wusp-cab-'));
  try {
    const file = path.join(dir, 'payload.cab');
    const ca = path.join(dir, 'ca.pem');
    await writeFile(file, bytes);
    await writeFile(ca, site.signing?.caCertificatePem ?? '');
    const listing = await run('cabextract', ['-l', file]);
    t.regex(
      listing.stdout,
      new RegExp(`\\b${inner.replace('.', '\\.')}\\b`),
      'cabextract lists the payload',
    );
    // osslsigncode checks the Authenticode signature and its chain to the site CA.
    const verify = await run('osslsigncode', ['verify', '-in', file, '-CAfile', ca]);
    t.regex(verify.stdout, /Signature verification: ok/);
    t.regex(verify.stdout, /Subject: \/CN=upcat UPC publisher/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

dbTest(
  'an approved Windows computer gets the client build, downloads it with ranges and reports the install',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const published = await publishClient(site);
    await deployToAll(site, published.updateId);
    await withServer(site, async (url) => {
      const wua = new WuaSimulator(url);
      await wua.connect();
      const { rounds } = await wua.syncAll();
      t.true(rounds.length >= 2, 'categories first, the update in a later round');
      t.true(
        rounds[0]?.every((u) => u.updateType === 'Category'),
        'the first round holds the root categories',
      );
      const offered = wua.actionable();
      t.is(offered.length, 1);
      const update = offered[0];
      if (update === undefined) return;
      t.is(update.updateId, published.updateId);
      t.is(update.action, 'Install');
      t.truthy(
        pick(update.core, 'ApplicabilityRules', 'IsInstalled', 'b.FileVersion'),
        'rules arrive with b. names',
      );
      const ext = await wua.extendedInfo([update.revisionId]);
      const xmls = all(pick(ext, 'Updates'), 'Update').map((u) => pick(u, 'Xml')?.text ?? '');
      const extended = xmls.find((x) => x.startsWith('<ExtendedProperties')) ?? '';
      t.regex(
        extended,
        /<HandlerSpecificData type="cmd:CommandLineInstallation"><InstallCommand Program="setup.exe"/,
      );
      t.regex(extended, /<ReturnCode Code="3010" Result="Succeeded" Reboot="true" \/>/);
      t.true(xmls.some((x) => x.includes('<Title>Contoso Client 5.0.1</Title>')));
      const [file] = filesOf(extended);
      const location = pick(ext, 'FileLocations', 'FileLocation');
      t.truthy(file);
      t.truthy(location);
      if (file === undefined || location === undefined) return;
      t.is(pick(location, 'FileDigest')?.text, file.sha1);
      const got = await wua.download(pick(location, 'Url')?.text ?? '', file);
      t.true(got.rangesUsed > 1);
      await checkCab(t, site, got.bytes, 'setup.exe');
      const reported = await wua.report([
        { eventId: 162, updateId: update.updateId, revisionNumber: update.revisionNumber },
        { eventId: 184, updateId: update.updateId, revisionNumber: update.revisionNumber },
      ]);
      t.is(pick(reported.body, 'ReportEventBatchResult')?.text, 'true');
      const report = (await site.reports.revisions()).find(
        (r) => r.updateId === published.updateId,
      );
      t.is(report?.installed, 1, 'upcat report counts the Windows install');
      const history = await site.reports.clientHistory(await clientIdOf(site, wua.susClientId));
      t.deepEqual(history.map((h) => h.state).sort(), [
        'downloaded',
        'installed',
        'reboot_pending',
      ]);
      // Synced again: nothing new.
      const again = await wua.syncAll();
      t.is(again.rounds.length, 0);
    });
  },
);

dbTest(
  'a computer that already has the build is offered it but downloads nothing',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const published = await publishClient(site);
    await deployToAll(site, published.updateId);
    await withServer(site, async (url) => {
      const wua = new WuaSimulator(url, { installed: [published.updateId] });
      await wua.connect();
      await wua.syncAll();
      const update = wua.actionable()[0];
      t.truthy(update);
      t.true(update !== undefined && wua.evaluatesInstalled(update), 'IsInstalled: nothing to do');
      t.is((await wua.syncAll()).rounds.length, 0, 'a second sync brings nothing new');
    });
  },
);

dbTest('a pending computer is registered but offered nothing', async (t, { site }) => {
  site.config.site.approval = 'manual';
  const published = await publishClient(site);
  await deployToAll(site, published.updateId);
  await withServer(site, async (url) => {
    const wua = new WuaSimulator(url);
    await wua.connect();
    const { rounds } = await wua.syncAll();
    t.is(rounds.length, 0);
    const listed = await site.clients.get(await clientIdOf(site, wua.susClientId));
    t.is(listed.status, 'pending');
    await site.clients.approve(listed.clientId, 'test');
    const after = await wua.syncAll();
    t.is(wua.actionable().length, 1, 'approval reaches the computer at its next sync');
    t.true(after.rounds.length >= 2);
  });
});

dbTest('a blocked computer gets a fault on every call', async (t, { site }) => {
  site.config.site.approval = 'auto-all';
  const published = await publishClient(site);
  await deployToAll(site, published.updateId);
  await withServer(site, async (url) => {
    const wua = new WuaSimulator(url);
    await wua.connect();
    await site.clients.block(await clientIdOf(site, wua.susClientId), 'test');
    const calls = [
      () => wua.syncOnce(),
      () => wua.extendedInfo([1]),
      () => wua.getAuthorizationCookie(),
      () => wua.getCookie(),
      () => wua.registerComputer(),
    ];
    for (const call of calls) {
      const err = await t.throwsAsync(call(), { instanceOf: WuaFault });
      t.is(err?.errorCode, 'InternalServerError');
    }
    const report = await wua.report([
      { eventId: 183, updateId: published.updateId, revisionNumber: 1 },
    ]);
    t.is(report.status, 500);
    t.is(report.fault?.errorCode, 'InternalServerError');
  });
});

dbTest(
  'a tampered cookie, a foreign cookie and the 2006 sample cookie are refused with InvalidCookie',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    await withServer(site, async (url) => {
      const wua = new WuaSimulator(url);
      await wua.connect();
      const good = wua.cookie;
      if (good?.data === undefined) return t.fail('no cookie');
      const bytes = Buffer.from(good.data, 'base64');
      bytes[bytes.length - 20] = (bytes[bytes.length - 20] as number) ^ 1;
      for (const data of [
        bytes.toString('base64'),
        'vS39KAEKKzRInaR4GVchjeaj4kJ3GEFqsmQE6fQGdxntnGxs+PPNTGQqqnBrJTJTgSlQl3aZsax5I/bpT+u017LSMUnuR68LyMQXmk9EikRsYbZto2NEVowAXMRe5B8bmlTXFKj4vgVYqhyq7Yas57FPWjTOAjtLMUVB9vdoWeqwq7PDwwZJNqhhvqmYU3z0aSnK6G1rQ4zv765bmqb5Mti9Dp/16ODVZEic4Q8IzX0V2Rb7BOk7PA7RMdXMbBDbZ6ZTU0eMebi6tzVp+Qu0eA==',
        Buffer.from('A'.repeat(47)).toString('base64'),
      ]) {
        wua.cookie = { expiration: good.expiration, data };
        const err = await t.throwsAsync(wua.syncOnce(), { instanceOf: WuaFault });
        t.is(err?.errorCode, 'InvalidCookie');
      }
      // The client recovers as the specification says: config, cookies, sync.
      wua.cookie = undefined;
      await wua.getConfig();
      await wua.getAuthorizationCookie();
      await wua.getCookie();
      await t.notThrowsAsync(wua.syncOnce());
    });
    return undefined;
  },
);

dbTest(
  'a new revision puts the old one out of scope; a superseding update replaces the superseded one',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const first = await publishClient(site, '5.0.1');
    await deployToAll(site, first.updateId);
    await withServer(site, async (url) => {
      const wua = new WuaSimulator(url);
      await wua.connect();
      await wua.syncAll();
      const old = wua.actionable()[0];
      if (old === undefined) return t.fail('nothing offered');
      // A new revision of the same update (same bytes, other metadata).
      await publishBytes(
        site,
        Buffer.from('MZ fake installer 5.0.1 '.repeat(2000)),
        windowsManifest({ updateId: first.updateId, description: 'revised notes' }),
        'setup.exe',
      );
      const next = await wua.syncAll();
      t.true(next.outOfScope.includes(old.revisionId), 'the old revision is out of scope');
      const now = wua.actionable();
      t.is(now.length, 1);
      t.is(now[0]?.updateId, first.updateId);
      t.is(now[0]?.revisionNumber, 2, 'only the highest revision of an update is offered');
      // A new version that supersedes the old update.
      const second = await publishBytes(
        site,
        Buffer.from('MZ fake installer 5.0.2 '.repeat(2000)),
        windowsManifest({
          version: '5.0.2',
          title: 'Contoso Client 5.0.2',
          supersedes: [first.updateId],
        }),
        'setup.exe',
      );
      await deployToAll(site, second.updateId);
      const third = await wua.syncAll();
      t.true(
        third.outOfScope.includes(now[0]?.revisionId ?? -1),
        'the superseded update leaves the scope',
      );
      t.deepEqual(
        wua.actionable().map((u) => u.updateId),
        [second.updateId],
      );
      return undefined;
    });
  },
);

dbTest('an uninstall deployment reaches the computer as Action Uninstall', async (t, { site }) => {
  site.config.site.approval = 'auto-all';
  const published = await publishClient(site);
  await deployToAll(site, published.updateId);
  await withServer(site, async (url) => {
    const wua = new WuaSimulator(url, { installed: [published.updateId] });
    await wua.connect();
    await wua.syncAll();
    t.is(wua.actionable()[0]?.action, 'Install');
    await deployToAll(site, published.updateId, 'uninstall');
    const next = await wua.syncAll();
    t.true(next.changed.length > 0, 'the changed deployment comes as ChangedUpdates');
    t.is(wua.actionable()[0]?.action, 'Uninstall');
    const fresh = new WuaSimulator(url);
    await fresh.connect();
    await fresh.syncAll();
    t.is(
      fresh.actionable()[0]?.action,
      'Uninstall',
      'a new computer gets it as NewUpdates with Uninstall',
    );
    await fresh.report([{ eventId: 222, updateId: published.updateId, revisionNumber: 1 }]);
    const report = (await site.reports.revisions()).find((r) => r.updateId === published.updateId);
    t.is(report?.uninstalled, 1);
  });
});
