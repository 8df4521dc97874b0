import { randomBytes } from 'node:crypto';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import dgram from 'node:dgram';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import dnsPacket from 'dns-packet';
import {
  endpoint,
  linux,
  markerOf,
  markerPackage,
  type AgentRun,
} from '../helpers/agent-endpoint.js';
import { collect, spawnCli } from '../helpers/cli.js';
import { runCliWithin, startServe, type Served } from '../helpers/processes.js';
import { dbTestSerial, type SiteContext } from '../helpers/site.js';

/**
 * Issue 15 item 5: `upcat mirror` between real agents (`upcat agent --once`, the built CLI) and
 * a real `upcat serve`. The mirror reaches its upstream through a small proxy the test controls,
 * which can forge the upstream's timestamp; the upstream is stopped and restarted on its port.
 */

const CLI_MS = 60_000;

interface MirrorStatus {
  trust: string;
  served: { timestampVersion: number; snapshotVersion: number; targets: number };
  refreshes: number;
  lastError?: string;
  cache: { files: number; bytes: number };
}

interface RunningMirror {
  url: string;
  home: string;
  status(): Promise<MirrorStatus>;
  /** Resolves once a refresh that started after this call has ended, with the status then. */
  nextRefresh(): Promise<MirrorStatus>;
  stop(): Promise<void>;
}

async function startMirror(args: string[], home: string): Promise<RunningMirror> {
  const child = spawnCli(['mirror', ...args, '--home', home, '--json'], {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
  });
  const done = collect(child);
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined && out.includes('\n'))
        resolve((JSON.parse(line) as { url: string }).url);
    });
    void done.then((r) => reject(new Error(`upcat mirror exited: ${r.stderr}`)));
  });
  const status = async (): Promise<MirrorStatus> =>
    (await (await fetch(`${url}/mirror/v1/status`)).json()) as MirrorStatus;
  return {
    url,
    home,
    status,
    nextRefresh: async () => {
      const from = (await status()).refreshes;
      for (;;) {
        const s = await status();
        // Two more: the refresh running at the call may have started before it.
        if (s.refreshes >= from + 2) return s;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop: async () => {
      child.kill('SIGTERM');
      await done;
    },
  };
}

interface ForgingProxy {
  url: string;
  /** While true, timestamp.json comes back with its signature altered. */
  forge: boolean;
  /** While set, timestamp.json is answered with these bytes (an older, validly signed one). */
  replay: Buffer | undefined;
  /** X-Forwarded-For of each client API request that came through, by path. */
  forwardedFor: Map<string, string>;
  close(): Promise<void>;
}

/** A pass-through to the upstream that can forge its timestamp; a gone upstream drops the socket. */
async function startForgingProxy(upstreamPort: number): Promise<ForgingProxy> {
  const proxy: ForgingProxy = {
    url: '',
    forge: false,
    replay: undefined,
    forwardedFor: new Map(),
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    const xff = req.headers['x-forwarded-for'];
    if (req.url?.startsWith('/v1/') === true && typeof xff === 'string')
      proxy.forwardedFor.set(req.url.split('?')[0] ?? '', xff);
    if (proxy.replay !== undefined && req.url === '/tuf/timestamp.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(proxy.replay);
      return;
    }
    const up = http.request(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        if (!(proxy.forge && req.url === '/tuf/timestamp.json' && answer.statusCode === 200)) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          const body = Buffer.concat(chunks)
            .toString('utf8')
            .replace(
              /("sig":\s*"[0-9a-f]*)([0-9a-f])"/,
              (_m, head: string, last: string) => `${head}${last === '0' ? '1' : '0'}"`,
            );
          const headers = { ...answer.headers };
          delete headers['content-length'];
          delete headers.etag;
          res.writeHead(200, headers).end(body);
        });
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return proxy;
}

/** A DNS server answering every SRV question with these targets (all 127.0.0.1). */
async function srvServer(
  targets: Array<{ priority: number; port: number }>,
): Promise<{ address: string; close(): Promise<void> }> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, from) => {
    const q = dnsPacket.decode(msg);
    const name = q.questions?.[0]?.name ?? '';
    const answers: dnsPacket.Answer[] = targets.map((x) => ({
      type: 'SRV',
      name,
      ttl: 5,
      data: { priority: x.priority, weight: 0, port: x.port, target: '127.0.0.1' },
    }));
    const answer = dnsPacket.encode({
      type: 'response',
      id: q.id ?? 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER,
      questions: q.questions ?? [],
      answers,
    });
    socket.send(answer, from.port, from.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function manifest(product: string, version: string): Record<string, unknown> {
  return {
    title: `${product} ${version}`,
    product,
    classification: 'Updates',
    version,
    handler: { type: 'commandLine', program: 'setup.sh' },
    isInstallable: { Platform: { Name: 'linux' } },
  };
}

async function siteCli(
  t: ExecutionContext,
  ctx: SiteContext,
  work: string,
): Promise<{
  cli<T>(...args: string[]): Promise<T>;
  release(
    name: string,
    version: string,
    action: string,
  ): Promise<{ updateId: string; sha256: string }>;
}> {
  const cli = async <T>(...args: string[]): Promise<T> => {
    const res = await runCliWithin([...args, '--json'], ctx.env, CLI_MS);
    if (res.code !== 0) throw new Error(`upcat ${args.join(' ')}: exit ${res.code}: ${res.stderr}`);
    return JSON.parse(res.stdout) as T;
  };
  return {
    cli,
    release: async (name, version, action) => {
      const mf = path.join(work, `manifest-${randomBytes(4).toString('hex')}.json`);
      await writeFile(mf, JSON.stringify(manifest(name, version)));
      const pkg = await markerPackage(work, name, version);
      const u = await cli<{ updateId: string; sha256: string }>(
        'publish',
        pkg,
        '--manifest',
        mf,
        '--quiet',
      );
      await cli('approve', u.updateId, '--group', 'All Computers', '--action', action);
      t.log(`released ${name} ${version} (${action})`);
      return u;
    },
  };
}

const stateOf = (run: AgentRun, updateId: string): string | undefined =>
  run.report?.results.find((r) => r.updateId === updateId)?.state;

const exists = (file: string): Promise<boolean> =>
  access(file).then(
    () => true,
    () => false,
  );

dbTestSerial(
  'mirror: agents install through it; upstream down it serves what it has; a tampered mirror is refused; a forging upstream is refused by the mirror',
  async (t, ctx) => {
    t.timeout(12 * 60_000);
    const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-mirror-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    await writeFile(
      path.join(ctx.home, 'upcat.config.json'),
      JSON.stringify({ site: { approval: 'auto-all' } }),
    );
    const site = await siteCli(t, ctx, work);
    const tool = await site.release('Branch Tool', '1.0', 'optional');

    let upstream: Served = await startServe(ctx.env);
    t.teardown(() => upstream.stop());
    const proxy = await startForgingProxy(upstream.port);
    t.teardown(() => proxy.close());
    const root = path.join(work, 'root.json');
    await writeFile(
      root,
      Buffer.from(await (await fetch(`${upstream.url}/tuf/1.root.json`)).arrayBuffer()),
    );
    const mirror = await startMirror(
      [
        '--upstream',
        proxy.url,
        '--root',
        root,
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--refresh-seconds',
        '0.2',
        '--cache-bytes',
        '64M',
      ],
      path.join(work, 'mirror'),
    );
    t.teardown(() => mirror.stop());
    t.like(await mirror.status(), { trust: 'pinned', served: { targets: 2 } });
    const agentRoot = ['--root', root];

    // An agent pointed at the mirror registers, syncs and installs through it; the upstream
    // keeps the one truth (its report counts the install); the payload is now in the cache.
    const e1 = await endpoint(work, 'e1', linux('x64'));
    const first = await e1.run(mirror.url, { extra: [...agentRoot, '--install-optional'] });
    t.is(first.code, 0, first.stderr);
    t.is(stateOf(first, tool.updateId), 'installed');
    t.deepEqual(await e1.markers(), [markerOf('Branch Tool', '1.0')]);
    const cached = path.join(mirror.home, 'cache', tool.sha256);
    t.true(await exists(cached));
    const revisions = await site.cli<Array<{ updateId: string; installed: number }>>(
      'report',
      'revisions',
    );
    t.like(
      revisions.find((r) => r.updateId === tool.updateId),
      { installed: 1 },
    );
    // A second endpoint takes the policy but leaves the optional update waiting.
    const e2 = await endpoint(work, 'e2', linux('x64'));
    const waiting = await e2.run(mirror.url, { extra: agentRoot });
    t.is(waiting.code, 0, waiting.stderr);
    t.is(stateOf(waiting, tool.updateId), 'waiting');

    t.is(proxy.forwardedFor.get('/v1/clients'), '127.0.0.1');

    // Payloads from the cache: Range and conditional GET, as the site answers them.
    const content = `${mirror.url}/content/${tool.sha256}`;
    const ranged = await fetch(content, { headers: { range: 'bytes=10-19' } });
    t.is(ranged.status, 206);
    t.is((await ranged.arrayBuffer()).byteLength, 10);
    const etag = ranged.headers.get('etag') ?? '';
    t.is(etag, `"${tool.sha256}"`);
    // (fetch adds "Cache-Control: no-cache" to a conditional request unless one is given)
    const unchanged = await fetch(content, {
      headers: { 'if-none-match': etag, 'cache-control': 'max-age=0' },
    });
    t.is(unchanged.status, 304);
    t.is((await fetch(`${mirror.url}/content/${'0'.repeat(64)}`)).status, 404);
    t.is((await fetch(`${mirror.url}/v1/tokens`)).status, 404);

    // DNS SRV: a dead target at priority 5, the mirror at 10, the site at 20; the agent skips
    // the dead one and uses the mirror.
    const dns = await srvServer([
      { priority: 5, port: await closedPort() },
      { priority: 10, port: Number(new URL(mirror.url).port) },
      { priority: 20, port: upstream.port },
    ]);
    t.teardown(dns.close);
    const inventory = path.join(work, 'srv-inventory.json');
    await writeFile(inventory, JSON.stringify(linux('x64')));
    const bySrv = await runCliWithin(
      [
        'agent',
        '--once',
        '--json',
        '--domain',
        'branch.test',
        '--dns-server',
        dns.address,
        '--state-dir',
        path.join(work, 'srv-state'),
        '--inventory',
        inventory,
        '--hardware-id',
        'hw-srv',
        '--name',
        'srv',
        ...agentRoot,
      ],
      { PATH: process.env['PATH'], HOME: process.env['HOME'] },
      120_000,
    );
    t.is(bySrv.code, 0, bySrv.stderr);
    t.like(JSON.parse(bySrv.stdout.trim().split('\n').pop() ?? '{}'), {
      source: 'dns srv',
      server: mirror.url,
    });

    // Upstream stopped: the mirror keeps serving its metadata and cached payloads, and e2
    // installs from them (its session reads the kept /v1/site; its sync is answered 304).
    await upstream.stop();
    t.regex(
      (await mirror.nextRefresh()).lastError ?? '',
      /not accepted|fetch failed|ECONNREFUSED|socket/i,
    );
    const offline = await e2.run(mirror.url, { extra: [...agentRoot, '--install-optional'] });
    t.is(offline.code, 0, offline.stderr);
    t.is(stateOf(offline, tool.updateId), 'installed', offline.stderr);
    t.deepEqual(await e2.markers(), [markerOf('Branch Tool', '1.0')]);
    const siteInfo = await fetch(`${mirror.url}/v1/site`);
    t.is(siteInfo.status, 200);
    t.is(siteInfo.headers.get('x-upcat-mirror'), 'upstream-unreachable');

    // A payload altered in the mirror's cache: the agent refuses it (the signed hash differs).
    upstream = await startServe(ctx.env, upstream.port);
    const bytes = await readFile(cached);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30] ?? 0) ^ 0xff;
    await writeFile(cached, bytes);
    const e3 = await endpoint(work, 'e3', linux('x64'));
    const tampered = await e3.run(mirror.url, { extra: [...agentRoot, '--install-optional'] });
    t.is(tampered.code, 2, tampered.stderr);
    t.is(stateOf(tampered, tool.updateId), 'download_rejected');
    t.deepEqual(await e3.markers(), []);

    // A new release reaches the mirror through TUF; e1 installs it and has seen that timestamp.
    const served = path.join(mirror.home, 'tuf', 'served');
    const oldTimestamp = await readFile(path.join(served, 'timestamp.json'));
    const before = (await mirror.status()).served.timestampVersion;
    const fix = await site.release('Branch Fix', '1.0', 'install');
    let now = await mirror.nextRefresh();
    while (now.served.timestampVersion === before) now = await mirror.nextRefresh();
    const second = await e1.run(mirror.url, { extra: agentRoot });
    t.is(second.code, 0, second.stderr);
    t.is(stateOf(second, fix.updateId), 'installed');

    // A rolled-back timestamp on the mirror: refused by the agent that has seen a newer one.
    const newTimestamp = await readFile(path.join(served, 'timestamp.json'));
    await writeFile(path.join(served, 'timestamp.json'), oldTimestamp);
    const rolledBack = await e1.run(mirror.url, { extra: agentRoot });
    t.is(rolledBack.code, 2, rolledBack.stderr);
    t.regex(rolledBack.stderr, /does not verify from the trusted root/);
    await writeFile(path.join(served, 'timestamp.json'), newTimestamp);

    // A modified snapshot on the mirror: a new agent refuses it and installs nothing.
    const realSnapshot = path.join(served, `${now.served.snapshotVersion}.snapshot.json`);
    const original = await readFile(realSnapshot, 'utf8');
    await writeFile(
      realSnapshot,
      original.replace(
        /"expires":\s*"(\d)/,
        (_m, d: string) => `"expires":"${d === '2' ? '3' : '2'}`,
      ),
    );
    const e4 = await endpoint(work, 'e4', linux('x64'));
    const forgedSnapshot = await e4.run(mirror.url, { extra: agentRoot });
    t.is(forgedSnapshot.code, 2, forgedSnapshot.stderr);
    t.regex(forgedSnapshot.stderr, /does not verify from the trusted root/);
    t.deepEqual(await e4.markers(), []);
    await writeFile(realSnapshot, original);

    // The upstream (through the proxy) forges its timestamp: the mirror refuses it and keeps
    // serving its last good copy, byte for byte; once the forgery stops, it moves on.
    proxy.forge = true;
    const fixTimestamp = (await mirror.status()).served.timestampVersion;
    const next = await site.release('Branch Next', '1.0', 'install');
    const refused = await mirror.nextRefresh();
    t.regex(refused.lastError ?? '', /not accepted/);
    t.is(refused.served.timestampVersion, fixTimestamp);
    t.deepEqual(await readFile(path.join(served, 'timestamp.json')), newTimestamp);
    proxy.forge = false;
    let healed = await mirror.nextRefresh();
    while (healed.served.timestampVersion === fixTimestamp) healed = await mirror.nextRefresh();
    t.is(healed.lastError, undefined);
    // An upstream that replays an older (validly signed) timestamp: a rollback, refused.
    proxy.replay = oldTimestamp;
    const rollback = await mirror.nextRefresh();
    t.regex(
      rollback.lastError ?? '',
      /not accepted: New timestamp version \d+ is less than current version \d+/,
    );
    t.is(rollback.served.timestampVersion, healed.served.timestampVersion);
    proxy.replay = undefined;

    // Older versioned metadata is pruned: the snapshot served and the one before it stay.
    const snapshots = (await readdir(served)).filter((n) => n.endsWith('.snapshot.json'));
    t.true(snapshots.includes(`${healed.served.snapshotVersion}.snapshot.json`));
    t.true(snapshots.length <= 2, snapshots.join(' '));
    t.true((await readdir(served)).includes('1.root.json'));
    const third = await e1.run(mirror.url, { extra: agentRoot });
    t.is(third.code, 0, third.stderr);
    t.is(stateOf(third, next.updateId), 'installed');

    // A second mirror trusts the upstream's first root on first use and, with --prefetch, holds
    // every target (payloads, their signatures, update documents) before any agent asks.
    const eager = await startMirror(
      ['--upstream', upstream.url, '--port', '0', '--host', '127.0.0.1', '--prefetch'],
      path.join(work, 'eager'),
    );
    t.teardown(() => eager.stop());
    const eagerStatus = await eager.status();
    t.like(eagerStatus, { trust: 'first use', served: { targets: 6 } });
    t.is(eagerStatus.cache.files, 9); // three payloads, their .p7s, three update documents
    for (const u of [tool, fix, next])
      t.true(await exists(path.join(eager.home, 'cache', u.sha256)));
    t.deepEqual(
      Buffer.from(await (await fetch(`${eager.url}/tuf/1.root.json`)).arrayBuffer()),
      await readFile(root),
    );
  },
);

test('upcat mirror: bad arguments are one line and exit 2', async (t) => {
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'] };
  const cases: Array<[string[], RegExp]> = [
    [['--upstream', 'ftp://x'], /--upstream: "ftp:\/\/x" must be an http or https URL/],
    [['--upstream', 'http://x', '--cache-bytes', 'lots'], /--cache-bytes: "lots" is not a size/],
    [['--upstream', 'http://x', '--refresh-seconds', '0'], /--refresh-seconds: "0"/],
  ];
  for (const [args, message] of cases) {
    const r = await runCliWithin(['mirror', ...args, '--home', os.tmpdir()], env, CLI_MS);
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, message);
  }
  const help = await runCliWithin(['mirror', '--help'], env, CLI_MS);
  t.is(help.code, 0);
  t.regex(help.stdout, /--upstream <url>/);
  t.regex(help.stdout, /--json/);
});
