/**
 * One site, two kinds of endpoint (issue 12 item 3): Windows computers registered through
 * MS-WUSP are site clients like agents (groups, client-side targeting, channel, re-registration),
 * and LastChange moves with the configuration.
 */
import { randomBytes } from 'node:crypto';
import { channelsOf } from '../../src/site/channels.js';
import { createWuspService, setWuspService } from '../../src/windows/wusp/index.js';
import { loadAnchorKey } from '../../src/sync/site-keys.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { runCli } from '../helpers/cli.js';
import { dbTest } from '../helpers/site.js';
import {
  all,
  pick,
  serve,
  windowsManifest,
  WuaFault,
  WuaSimulator,
  deployToAll,
} from '../helpers/wua-simulator.js';

async function clientIdOf(
  site: import('../../src/app.js').Site,
  susClientId: string,
): Promise<string> {
  const row = (await site
    .db('wusp_computers')
    .where({ sus_client_id: susClientId })
    .first('client_id')) as {
    client_id: string;
  };
  return row.client_id;
}

dbTest(
  'client-side targeting: the TargetGroup policy puts a computer in its group, also when it changes later',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    await site.groups.create('Ring1', 'test');
    const published = await publishBytes(
      site,
      Buffer.from('MZ ring'),
      windowsManifest(),
      'setup.exe',
    );
    await site.deployments.approve(
      { updateId: published.updateId, group: 'Ring1', action: 'install' },
      'test',
    );
    const server = await serve(site);
    try {
      const inRing = new WuaSimulator(server.url, { targetGroup: 'Ring1' });
      await inRing.connect();
      await inRing.syncAll();
      t.deepEqual(
        inRing.actionable().map((u) => u.updateId),
        [published.updateId],
      );
      t.deepEqual((await site.clients.get(await clientIdOf(site, inRing.susClientId))).groups, [
        'Ring1',
      ]);
      const outside = new WuaSimulator(server.url);
      await outside.connect();
      await outside.syncAll();
      t.deepEqual(outside.actionable(), [], 'a computer outside the ring is offered nothing');
      // The policy changes: the next GetAuthorizationCookie carries the new group.
      outside.targetGroup = 'Ring1';
      await outside.getAuthorizationCookie();
      await outside.getCookie();
      await outside.syncAll();
      t.deepEqual(
        outside.actionable().map((u) => u.updateId),
        [published.updateId],
      );
    } finally {
      await server.close();
    }
  },
);

dbTest(
  'Windows computers are site clients with channel wusp; registering again keeps the record',
  async (t, { site, env }) => {
    site.config.site.approval = 'manual';
    const agent = await site.registration.register({
      hardwareId: 'hw-agent',
      name: 'pc',
      os: 'linux',
      architecture: 'x64',
      clientVersion: '1.0.0',
    });
    const server = await serve(site);
    try {
      const wua = new WuaSimulator(server.url, { manufacturer: 'HP', model: 'EliteDesk 800 G3' });
      await wua.connect();
      const id = await clientIdOf(site, wua.susClientId);
      await site.clients.approve(id, 'test');
      await wua.registerComputer();
      await wua.registerComputer();
      t.is(
        await clientIdOf(site, wua.susClientId),
        id,
        'a repeated RegisterComputer refreshes the same record',
      );
      const view = await site.clients.get(id);
      t.is(view.status, 'approved', 'approval survives re-registration');
      t.regex(view.hardwareId, /^wusp-[0-9a-f]{40}$/);
      t.is(view.os, 'Windows 10.0.19045');
      t.is(view.architecture, 'x64');
      t.is(view.name, wua.dnsName);
      const channels = await channelsOf(site.db, [id, agent.clientId]);
      t.is(channels.get(id), 'wusp');
      t.is(channels.get(agent.clientId), 'agent');
      // What an administrator sees: `upcat clients list` (JSON and table) names each channel.
      const json = await runCli(['clients', 'list', '--json'], env);
      t.is(json.code, 0, json.stderr);
      const listed = JSON.parse(json.stdout) as Array<{ clientId: string; channel: string }>;
      t.is(listed.find((c) => c.clientId === id)?.channel, 'wusp');
      t.is(listed.find((c) => c.clientId === agent.clientId)?.channel, 'agent');
      const table = await runCli(['clients', 'list'], env);
      t.regex(table.stdout.split('\n')[0] ?? '', /\bGROUPS\s+CHANNEL\s+LAST CONTACT\b/);
      t.regex(table.stdout.split('\n').find((r) => r.startsWith(id)) ?? '', /\swusp\s/);
      const stored = (await site
        .db('wusp_computers')
        .where({ sus_client_id: wua.susClientId })
        .first()) as Record<string, unknown>;
      t.is(stored['manufacturer'], 'HP');
      t.not(stored['secret_sealed'], undefined);
      t.false(
        String(stored['secret_sealed']).includes(id),
        'the client secret is stored sealed, not in clear',
      );
    } finally {
      await server.close();
    }
  },
);

dbTest(
  'a revision whose rules cannot run on Windows is not offered to Windows Update Agents',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const linux = await publishBytes(
      site,
      Buffer.from('#!/bin/sh'),
      fileManifest('setup.sh'),
      'setup.sh',
    );
    const windows = await publishBytes(site, Buffer.from('MZ'), windowsManifest(), 'setup.exe');
    for (const u of [linux, windows]) {
      await deployToAll(site, u.updateId);
    }
    const server = await serve(site);
    try {
      const wua = new WuaSimulator(server.url);
      await wua.connect();
      await wua.syncAll();
      t.deepEqual(
        wua.actionable().map((u) => u.updateId),
        [windows.updateId],
      );
    } finally {
      await server.close();
    }
  },
);

dbTest(
  'LastChange moves when the configuration does; cookies of the old one get ConfigChanged',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const server = await serve(site);
    try {
      const wua = new WuaSimulator(server.url);
      await wua.connect();
      const before = wua.lastChange;
      await new Promise((r) => setTimeout(r, 5));
      const key = await loadAnchorKey(site.config.dirs.signing);
      setWuspService(
        site,
        createWuspService(site, key, { settings: { maxExtendedUpdatesPerRequest: 20 } }),
      );
      const err = await t.throwsAsync(wua.syncOnce(), { instanceOf: WuaFault });
      t.is(err?.errorCode, 'ConfigChanged');
      const config = await wua.getConfig();
      t.not(wua.lastChange, before);
      t.regex(JSON.stringify(config), /MaxExtendedUpdatesPerRequest/);
      await wua.getAuthorizationCookie();
      await wua.getCookie();
      await t.notThrowsAsync(wua.syncOnce());
      // Another server's key: its cookies are InvalidCookie here.
      setWuspService(
        site,
        createWuspService(site, randomBytes(32), {
          settings: { maxExtendedUpdatesPerRequest: 20 },
        }),
      );
      const foreign = await t.throwsAsync(wua.syncOnce(), { instanceOf: WuaFault });
      t.is(foreign?.errorCode, 'InvalidCookie');
    } finally {
      await server.close();
    }
  },
);

dbTest(
  'RefreshCache maps update identities to this server revision IDs; GetFileLocations finds a file by its SHA-1',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const published = await publishBytes(
      site,
      Buffer.from('MZ refresh'),
      windowsManifest(),
      'setup.exe',
    );
    await deployToAll(site, published.updateId);
    const server = await serve(site);
    try {
      const wua = new WuaSimulator(server.url);
      await wua.connect();
      await wua.syncAll();
      const update = wua.actionable()[0];
      if (update === undefined) return t.fail('nothing offered');
      const refreshed = await wua.call(
        'client',
        'RefreshCache',
        `${wua.cookieXml()}<globalIDs><UpdateIdentity><UpdateID>${published.updateId}</UpdateID><RevisionNumber>1</RevisionNumber></UpdateIdentity><UpdateIdentity><UpdateID>0a4c6c73-8887-4d7f-9cbe-d08fa8fa9d1e</UpdateID><RevisionNumber>50</RevisionNumber></UpdateIdentity></globalIDs>`,
      );
      const results = all(pick(refreshed.body, 'RefreshCacheResult'), 'RefreshCacheResult');
      t.is(results.length, 1, 'only the update deployed to this computer');
      t.is(pick(results[0], 'RevisionID')?.text, String(update.revisionId));
      t.is(pick(results[0], 'Deployment', 'Action')?.text, 'Install');
      const ext = await wua.extendedInfo([update.revisionId], ['Extended']);
      const digest = pick(ext, 'FileLocations', 'FileLocation', 'FileDigest')?.text ?? '';
      const url = pick(ext, 'FileLocations', 'FileLocation', 'Url')?.text;
      const located = await wua.call(
        'client',
        'GetFileLocations',
        `${wua.cookieXml()}<fileDigests><base64Binary>${digest}</base64Binary><base64Binary>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</base64Binary></fileDigests>`,
      );
      const locations = all(
        pick(located.body, 'GetFileLocationsResult', 'FileLocations'),
        'FileLocation',
      );
      t.is(locations.length, 1);
      t.is(pick(locations[0], 'Url')?.text, url, 'the same stable URL');
      t.truthy(pick(located.body, 'GetFileLocationsResult', 'NewCookie', 'EncryptedData')?.text);
      const bad = await wua.call(
        'client',
        'GetFileLocations',
        `${wua.cookieXml()}<fileDigests><base64Binary>AAAA</base64Binary></fileDigests>`,
      );
      t.is(bad.fault?.errorCode, 'InvalidParameters', 'a digest that is not 20 bytes');
      return undefined;
    } finally {
      await server.close();
    }
  },
);

dbTest(
  'a native-mode site registers Windows computers (a WUA sends no CSR) and still asks agents for one',
  async (t, { site }) => {
    site.config.site.mode = 'native';
    site.config.site.approval = 'auto-all';
    const published = await publishBytes(
      site,
      Buffer.from('MZ native'),
      windowsManifest(),
      'setup.exe',
    );
    await deployToAll(site, published.updateId);
    const server = await serve(site);
    try {
      const wua = new WuaSimulator(server.url);
      await wua.connect();
      await wua.syncAll();
      t.deepEqual(
        wua.actionable().map((u) => u.updateId),
        [published.updateId],
        'the registered computer is offered the deployed update',
      );
      const id = await clientIdOf(site, wua.susClientId);
      t.is((await site.clients.get(id)).status, 'approved');
      const refused = await t.throwsAsync(
        site.registration.register({
          hardwareId: 'hw-native-agent',
          name: 'pc',
          os: 'linux',
          architecture: 'x64',
          clientVersion: '1.0.0',
        }),
      );
      t.regex(refused?.message ?? '', /certificate signing request/);
    } finally {
      await server.close();
    }
  },
);
