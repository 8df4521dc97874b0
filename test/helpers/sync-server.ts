import type { Site } from '../../src/app.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import type { SignedPolicy } from '../../src/sync/sync-service.js';
import { registration } from './clients.js';
import { fileManifest, publishBytes } from './publish.js';
import type { SiteContext } from './site.js';

/** Client syncs against a real server (sync fast path and policy cache in front of Express). */

export interface Synced {
  status: number;
  anchor?: string;
  policy?: SignedPolicy;
  code?: string;
}

export async function sync(url: string, secret: string, anchor?: string): Promise<Synced> {
  const q = anchor === undefined ? '' : `?anchor=${encodeURIComponent(anchor)}`;
  const res = await fetch(`${url}/v1/sync${q}`, { headers: { authorization: `Bearer ${secret}` } });
  if (res.status === 200) {
    const body = (await res.json()) as { anchor: string; policy: SignedPolicy };
    return { status: 200, anchor: body.anchor, policy: body.policy };
  }
  if (res.status === 304) return { status: 304 };
  const body = (await res.json()) as { error: { code: string } };
  return { status: res.status, code: body.error.code };
}

/** Registers over HTTP; the secret (its first 36 characters are the client ID). */
export async function registered(url: string, over: Record<string, unknown> = {}): Promise<string> {
  const res = await fetch(`${url}/v1/clients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(registration(over)),
  });
  const body = (await res.json()) as { secret: string };
  return body.secret;
}

export async function serving(
  ctx: SiteContext,
  pollMs = 50,
): Promise<{ server: RunningServer; url: string; site: Site }> {
  ctx.site.config.site.approval = 'auto-all';
  ctx.site.config.server.changePollMs = pollMs;
  const server = await startServer(ctx.site, { host: '127.0.0.1', port: 0 });
  return { server, url: server.url, site: ctx.site };
}

/** Retries until `ok` (another process's change is seen within a poll interval). */
export async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const until = Date.now() + 5_000;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Publishes an update named `name` and deploys it to `group` (All Computers by default). */
export async function deployOne(
  site: Site,
  name: string,
  group = 'All Computers',
  percent = 100,
): Promise<string> {
  const u = await publishBytes(
    site,
    `payload-${name}`,
    fileManifest(`${name}.bin`, { title: name, product: name, version: '1.0' }),
    `${name}.bin`,
  );
  await site.deployments.approve(
    { updateId: u.updateId, group, action: 'install', percent },
    'test',
  );
  return u.updateId;
}
