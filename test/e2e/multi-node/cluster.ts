import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { openSite } from '../../../src/app.js';
import { agreeSiteKeys, loadPolicySigner } from '../../../src/sync/site-keys.js';
import type { TufPublicKey } from '../../../src/signing/signer.js';
import { startPrivateCluster } from '../../helpers/private-postgres.js';
import { startServe, type Served } from '../../helpers/processes.js';
import { dropSchema, sharedSigningDir } from '../../helpers/site.js';
import { PASSWORD } from '../../helpers/sessions.js';
import { tokenOf } from '../../helpers/tokens.js';
import { freePort } from './nginx.js';

/**
 * Several `upcat serve` nodes of one site (issue 15 item 4): one PostgreSQL database, a home
 * per node holding only its config and a copy of the site's signing/ directory (the secret
 * every node needs), and the shared storage given by `storage` in the config (an object store
 * for payloads, the database for TUF metadata). PostgreSQL is
 * DATABASE_URL in a schema of the test's own when it is set, else a private cluster started by
 * the test (helpers/private-postgres.ts), so the test runs, on PostgreSQL, either way.
 */
/** A console account made with the site (password helpers/sessions.ts PASSWORD). */
export const PERSON = 'operator';

export interface SharedDatabase {
  env: NodeJS.ProcessEnv;
  connect(): Knex;
  destroy(): Promise<void>;
}

export async function sharedDatabase(): Promise<SharedDatabase> {
  const url = process.env['DATABASE_URL'];
  if (url !== undefined && url !== '') {
    const env = { DATABASE_URL: url, UPCAT_DATABASE_SCHEMA: `t_${randomBytes(6).toString('hex')}` };
    return {
      env,
      connect: () =>
        knexFactory({ client: 'pg', connection: url, searchPath: [env.UPCAT_DATABASE_SCHEMA] }),
      destroy: () => dropSchema(env),
    };
  }
  const cluster = await startPrivateCluster();
  return {
    env: { DATABASE_URL: cluster.url },
    connect: () => knexFactory({ client: 'pg', connection: cluster.url }),
    destroy: () => cluster.destroy(),
  };
}

export interface Node {
  env: NodeJS.ProcessEnv;
  port: number;
  url: string;
  served: Served | undefined;
  start(): Promise<void>;
  /** SIGKILL, at once. */
  kill(): Promise<void>;
}

export interface MultiNodeSite {
  work: string;
  nodes: Node[];
  siteCode: string;
  policyKey: TufPublicKey;
  tokens: { publish: string; approve: string; admin: string };
  /** A home with the site's TUF keys but not its sync keys: a node set up by mistake. */
  strayHomeEnv(): Promise<NodeJS.ProcessEnv>;
  stop(): Promise<void>;
}

export async function multiNodeSite(
  db: SharedDatabase,
  count: number,
  config: Record<string, unknown>,
  /** More environment for every node (the object store's credentials). */
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<MultiNodeSite> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-multi-'));
  const homeOf = (i: number | string): string => path.join(work, `node-${i}`);
  const envOf = (home: string): NodeJS.ProcessEnv => ({
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    UPCAT_HOME: home,
    ...db.env,
    ...extraEnv,
  });
  const writeHome = async (home: string): Promise<void> => {
    await mkdir(home, { recursive: true });
    await writeFile(path.join(home, 'upcat.config.json'), JSON.stringify(config));
  };

  // The first node's home is where the site is made; the others get a copy of its signing/.
  const first = homeOf(0);
  await writeHome(first);
  await cp(await sharedSigningDir(), path.join(first, 'signing'), { recursive: true });
  const site = await openSite({ home: first, env: envOf(first), logLevel: 'silent' });
  let tokens: MultiNodeSite['tokens'];
  try {
    await agreeSiteKeys(site.db, site.config.dirs.signing); // as `upcat init` does
    await site.users.add({ name: PERSON, role: 'admin', password: PASSWORD }, 'test');
    tokens = {
      publish: await tokenOf(site, 'publish'),
      approve: await tokenOf(site, 'approve'),
      admin: await tokenOf(site, 'admin'),
    };
  } finally {
    await site.close();
  }
  const signing = path.join(first, 'signing');
  const nodes: Node[] = [];
  for (let i = 0; i < count; i++) {
    const home = homeOf(i);
    if (i > 0) {
      await writeHome(home);
      await cp(signing, path.join(home, 'signing'), { recursive: true });
    }
    const port = await freePort();
    const node: Node = {
      env: envOf(home),
      port,
      url: `http://127.0.0.1:${port}`,
      served: undefined,
      start: async () => {
        node.served = await startServe(node.env, port, 90_000);
      },
      kill: async () => {
        await node.served?.kill();
        node.served = undefined;
      },
    };
    nodes.push(node);
  }
  return {
    work,
    nodes,
    siteCode: site.config.site.code,
    policyKey: (await loadPolicySigner(signing)).key,
    tokens,
    strayHomeEnv: async () => {
      const home = homeOf('stray');
      await writeHome(home);
      await cp(await sharedSigningDir(), path.join(home, 'signing'), { recursive: true });
      return envOf(home);
    },
    stop: async () => {
      await Promise.all(nodes.map((n) => n.served?.stop()));
    },
  };
}
