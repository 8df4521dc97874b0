import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';
import { writeFileAtomic } from './files.js';
import { withRepoLock } from './tuf-lock.js';

/**
 * Where the TUF repository's metadata lives (issue 15 item 2): files under catalog/tuf (one node,
 * or a shared file system) or rows of the database (every node; tuf-store-db.ts). The writer
 * reads the last complete version and writes the next one through this port only.
 */
export interface MetadataIO {
  /** For messages: the directory, or "the database". */
  readonly label: string;
  /** The bytes of one metadata file (`timestamp.json`, `3.snapshot.json`), or undefined. */
  read(name: string): Promise<Buffer | undefined>;
  write(name: string, bytes: Buffer): Promise<void>;
}

export interface MetadataStore extends MetadataIO {
  readonly kind: 'files' | 'database';
  /**
   * Runs `fn` as the repository's only writer. Files: under the lock file, each write lands at
   * once (the writer orders them so that timestamp.json, written last, makes a version visible).
   * Database: in one transaction, so a writer that stops midway leaves nothing behind.
   */
  writing<T>(fn: (io: MetadataIO) => Promise<T>): Promise<T>;
  /** Every metadata name stored (for a migration between stores). */
  list(): Promise<string[]>;
  /** Stops what the store runs in the background (the database store's poll). */
  close(): void;
}

/** A repository given by its directory (the historical form) or by its store. */
export type RepoRef = string | MetadataStore;

export function storeOf(repo: RepoRef): MetadataStore {
  return typeof repo === 'string' ? new FileMetadataStore(repo) : repo;
}

/** Reading and writing functions accept a directory, a store, or the writer's transaction. */
export function ioOf(repo: string | MetadataIO): MetadataIO {
  return typeof repo === 'string' ? new FileMetadataStore(repo) : repo;
}

/** Metadata names: `timestamp.json`, `root.json`, or version-prefixed role files. */
const METADATA_NAME =
  /^(timestamp|root|[1-9][0-9]*\.(root|targets|snapshot|bins-[0-9a-f]+))\.json$/;

export function isMetadataName(name: string): boolean {
  return METADATA_NAME.test(name);
}

/** The files adapter: catalog/tuf/ as it always was. */
export class FileMetadataStore implements MetadataStore {
  readonly kind = 'files';

  constructor(readonly dir: string) {}

  get label(): string {
    return this.dir;
  }

  async read(name: string): Promise<Buffer | undefined> {
    try {
      return await readFile(path.join(this.dir, name));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** By temporary name and rename: readers never see a partial file. */
  async write(name: string, bytes: Buffer): Promise<void> {
    await writeFileAtomic(path.join(this.dir, name), bytes);
  }

  writing<T>(fn: (io: MetadataIO) => Promise<T>): Promise<T> {
    return withRepoLock(this.dir, () => fn(this));
  }

  async list(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter(isMetadataName);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
  }

  close(): void {}
}
