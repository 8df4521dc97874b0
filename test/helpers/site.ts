import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import knexFactory from 'knex';
import { openSite, type Site } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { initSiteSigning } from '../../src/signing/site-signing.js';

let signingTemplate: Promise<string> | undefined;

/**
 * Keys and certificates made once per test process and copied into each test site: RSA key
 * generation for the CA would otherwise dominate the suite's time.
 */
export function sharedSigningDir(): Promise<string> {
  signingTemplate ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-signing-'));
    const config = loadConfig({ home: dir, env: {} });
    await initSiteSigning(config);
    return config.dirs.signing;
  })();
  return signingTemplate;
}

export type DbKind = 'sqlite' | 'postgres';

/** Every storage test runs on SQLite, and again on PostgreSQL when DATABASE_URL is set. */
export const DATABASES: readonly DbKind[] = process.env['DATABASE_URL']
  ? ['sqlite', 'postgres']
  : ['sqlite'];

export interface SiteContext {
  kind: DbKind;
  home: string;
  /** The environment that points a child process (the CLI) at this same site. */
  env: NodeJS.ProcessEnv;
  site: Site;
}

/** A fresh site in a temporary home; on PostgreSQL, in a schema of its own. */
export async function makeSite(kind: DbKind): Promise<SiteContext & { cleanup(): Promise<void> }> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-test-'));
  const env = siteEnv(kind, home);
  await cp(await sharedSigningDir(), path.join(home, 'signing'), { recursive: true });
  const site = await openSite({ home, env, logLevel: 'silent' });
  return {
    kind,
    home,
    env,
    site,
    cleanup: async () => {
      await site.close();
      await dropSchema(env);
      await rm(home, { recursive: true, force: true });
    },
  };
}

export function siteEnv(kind: DbKind, home: string): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    UPCAT_HOME: home,
  };
  if (kind === 'sqlite') return base;
  return {
    ...base,
    DATABASE_URL: process.env['DATABASE_URL'],
    UPCAT_DATABASE_SCHEMA: `t_${randomBytes(6).toString('hex')}`,
  };
}

export async function dropSchema(env: NodeJS.ProcessEnv): Promise<void> {
  const schema = env['UPCAT_DATABASE_SCHEMA'];
  if (schema === undefined || env['DATABASE_URL'] === undefined) return;
  const db = knexFactory({ client: 'pg', connection: env['DATABASE_URL'] });
  try {
    await db.raw(`drop schema if exists "${schema}" cascade`);
  } finally {
    await db.destroy();
  }
}

/** Declares one AVA test per database, each with its own fresh site. */
export function dbTest(
  title: string,
  fn: (t: ExecutionContext, ctx: SiteContext) => Promise<void>,
): void {
  for (const kind of DATABASES) {
    test(`${title} [${kind}]`, async (t) => {
      const ctx = await makeSite(kind);
      try {
        await fn(t, ctx);
      } finally {
        await ctx.cleanup();
      }
    });
  }
}

/** Same, serially (for tests that spawn many processes). */
export function dbTestSerial(
  title: string,
  fn: (t: ExecutionContext, ctx: SiteContext) => Promise<void>,
): void {
  for (const kind of DATABASES) {
    test.serial(`${title} [${kind}]`, async (t) => {
      const ctx = await makeSite(kind);
      try {
        await fn(t, ctx);
      } finally {
        await ctx.cleanup();
      }
    });
  }
}
