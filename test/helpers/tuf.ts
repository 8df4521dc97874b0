import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Metadata, MetaFile, MetadataKind, Timestamp } from '@tufjs/models';
import express from 'express';
import { Updater } from 'tuf-js';
import { loadConfig } from '../../src/config/load.js';
import { tufRoutes } from '../../src/server/routes/tuf.js';
import { initKeys, loadKeyring, type InitKeysOptions } from '../../src/signing/key-store.js';
import type { Keyring } from '../../src/signing/roles.js';
import type { Signer } from '../../src/signing/signer.js';
import { metadataBytes, signMetadata, type RepoOptions } from '../../src/signing/tuf-metadata.js';
import { publishTargets, tufRepoDir, type RepoSummary } from '../../src/signing/tuf-repo.js';
import type { TargetInput } from '../../src/signing/tuf-targets.js';
import { BlobPool } from '../../src/storage/blobs/pool.js';

/**
 * A TUF repository written by src/signing, served by the real `tufRoutes` on 127.0.0.1, and
 * tuf-js clients against it. `attack` lets a test answer any path with bytes of its choosing,
 * as a man in the middle or a compromised mirror would.
 */
export interface TufFixture {
  home: string;
  signingDir: string;
  repoDir: string;
  pool: BlobPool;
  baseUrl: string;
  options: RepoOptions;
  /** Attacker-controlled answers, by URL path (e.g. `/tuf/timestamp.json`). */
  attack: Map<string, Buffer>;
  /** Every path requested, in order (to measure what a client downloads). */
  requests: string[];
  keyring(): Promise<Keyring>;
  /** Stores payloads in the pool and publishes them as targets (a new catalog version). */
  publish(payloads: Record<string, string | Buffer>, remove?: string[]): Promise<RepoSummary>;
  /** A tuf-js client whose trust starts at root version 1 and whose cache persists per name. */
  client(name?: string): Promise<Updater>;
  /** Reads a metadata file of the repository as JSON. */
  readJson(file: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export interface TufFixtureOptions extends RepoOptions {
  keys?: InitKeysOptions;
}

export async function makeTufFixture(options: TufFixtureOptions = {}): Promise<TufFixture> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'upcat-tuf-'));
  const config = loadConfig({ home, env: {} });
  const signingDir = config.dirs.signing;
  const repoDir = tufRepoDir(config.dirs.catalog);
  const pool = new BlobPool(config.dirs.packages);
  await pool.init();
  await initKeys(signingDir, options.keys);
  const repoOptions: RepoOptions = { binBits: 4, ...options };
  let catalogVersion = 0;

  const attack = new Map<string, Buffer>();
  const requests: string[] = [];
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((req, res, next) => {
    requests.push(req.path);
    const forged = attack.get(req.path);
    if (forged === undefined) return next();
    res.type('application/octet-stream').send(forged);
  });
  const router = express.Router();
  tufRoutes(router, { config, blobs: pool }, async () => true); // no database here: every pool file
  app.use(router);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fixture: TufFixture = {
    home,
    signingDir,
    repoDir,
    pool,
    baseUrl,
    options: repoOptions,
    attack,
    requests,
    keyring: () => loadKeyring(signingDir),
    publish: async (payloads, remove = []) => {
      const add: TargetInput[] = [];
      for (const [name, content] of Object.entries(payloads)) {
        const bytes = Buffer.from(content);
        const staged = await pool.stage(Readable.from([bytes]), 1 << 30);
        await staged.commit();
        add.push({
          name,
          length: bytes.length,
          hashes: { sha256: sha256(bytes) },
          custom: { updateId: `00000000-0000-4000-8000-${String(add.length).padStart(12, '0')}` },
        });
      }
      catalogVersion += 1;
      return publishTargets(
        repoDir,
        await loadKeyring(signingDir),
        { add, remove, catalogVersion },
        repoOptions,
      );
    },
    client: async (name = 'client') => {
      const metadataDir = path.join(home, name, 'metadata');
      const targetDir = path.join(home, name, 'targets');
      await mkdir(metadataDir, { recursive: true });
      await mkdir(targetDir, { recursive: true });
      // Trust on first use of root version 1, as a client installed with the site's root would.
      await copyFile(
        path.join(repoDir, '1.root.json'),
        path.join(metadataDir, 'root.json'),
        constants.COPYFILE_EXCL,
      ).catch(() => undefined);
      return new Updater({
        metadataDir,
        metadataBaseUrl: `${baseUrl}/tuf`,
        targetDir,
        targetBaseUrl: `${baseUrl}/tuf/targets`,
        config: { fetchRetry: 0, fetchTimeout: 5000 },
      });
    },
    readJson: async (file) =>
      JSON.parse(await readFile(path.join(repoDir, file), 'utf8')) as Record<string, unknown>,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(home, { recursive: true, force: true });
    },
  };
  return fixture;
}

export function sha256(bytes: string | Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Downloads a target with a client and returns its bytes. */
export async function download(client: Updater, name: string): Promise<Buffer> {
  const info = await client.getTargetInfo(name);
  if (info === undefined) throw new Error(`no target ${name}`);
  return readFile(await client.downloadTarget(info));
}

/** Timestamp metadata as an attacker holding the given timestamp keys would sign it. */
export async function forgedTimestamp(
  fx: Pick<TufFixture, 'repoDir'>,
  changes: { version: number; snapshotVersion?: number },
  signers: readonly Signer[],
): Promise<Buffer> {
  const current = Metadata.fromJSON(
    MetadataKind.Timestamp,
    JSON.parse(await readFile(path.join(fx.repoDir, 'timestamp.json'), 'utf8')) as Parameters<
      typeof Metadata.fromJSON
    >[1],
  );
  const meta = current.signed.snapshotMeta;
  const signed = new Timestamp({
    version: changes.version,
    specVersion: current.signed.specVersion,
    expires: current.signed.expires,
    snapshotMeta: new MetaFile({ version: changes.snapshotVersion ?? meta.version }),
  });
  return metadataBytes(await signMetadata(signed, signers));
}
