import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import {
  Metadata,
  MetadataKind,
  type MetaFile,
  type Root,
  type Targets,
  type Timestamp,
} from '@tufjs/models';
import { canonicalJson } from '../../src/catalog/canonical-json.js';
import { revisionFromXml } from '../../src/catalog/update-xml.js';
import { startServer } from '../../src/server/serve.js';
import { CATALOG_VERSION_FIELD } from '../../src/signing/tuf-state.js';
import type { PolicyEntry } from '../../src/sync/policy.js';
import type { SignedPolicy } from '../../src/sync/sync-service.js';
import { registration } from '../helpers/clients.js';
import { fileManifest } from '../helpers/publish.js';
import { dbTestSerial } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';
import { uploadForm } from '../helpers/upload.js';

const PUBLISHES = 20;
/**
 * 120 clients: enough that reads and publishes contend for PostgreSQL's pool of 10, few enough
 * that a 2-core CI machine running other test files beside this one still serves them (with 200
 * there, waits for a pooled connection passed knex's 60 s acquire timeout).
 */
const CLIENTS = 120;
/** Bounds the whole run on a small machine: a client stops polling after this, as a failure. */
const DEADLINE_MS = 240_000;

type JsonOf<T> = Parameters<typeof Metadata.fromJSON>[1] & T;

/**
 * What an endpoint sees while pipelines publish: the signed catalog (timestamp -> snapshot ->
 * targets -> bins, every file verified against the keys of the role above it) and its policy.
 * Immutable files (versioned bins, payloads) are verified once and shared, as a cache would.
 */
class CatalogReader {
  private readonly bins = new Map<string, Promise<Record<string, TargetInfo>>>();
  private readonly blobs = new Map<string, Promise<void>>();
  constructor(
    private readonly base: string,
    private readonly root: Metadata<Root>,
  ) {}

  /** The payload digests each verified update document names, by the document's digest. */
  private readonly documents = new Map<
    string,
    { updateId: string; revision: number; files: string[] }
  >();

  /** What a verified update document says (after read() resolved it). */
  documentOf(sha256: string): { updateId: string; revision: number; files: string[] } | undefined {
    return this.documents.get(sha256);
  }

  /** One consistent view: every target of the snapshot the timestamp names. */
  async read(): Promise<CatalogView> {
    const ts = Metadata.fromJSON(
      MetadataKind.Timestamp,
      await this.json('timestamp.json'),
    ) as Metadata<Timestamp>;
    this.root.verifyDelegate('timestamp', ts);
    const snapMeta = ts.signed.snapshotMeta;
    const snapshot = Metadata.fromJSON(
      MetadataKind.Snapshot,
      await this.verified(`${snapMeta.version}.snapshot.json`, snapMeta),
    );
    this.root.verifyDelegate('snapshot', snapshot);
    const topMeta = snapshot.signed.meta['targets.json'];
    if (topMeta === undefined) throw new Error('snapshot lists no targets.json');
    const top = Metadata.fromJSON(
      MetadataKind.Targets,
      await this.verified(`${topMeta.version}.targets.json`, topMeta),
    );
    this.root.verifyDelegate('targets', top);
    const targets = new Map<string, TargetInfo>();
    const bins = await Promise.all(
      Object.entries(snapshot.signed.meta)
        .filter(([file]) => file !== 'targets.json')
        .map(([file, meta]) => this.bin(top, file, meta)),
    );
    for (const bin of bins) for (const [name, info] of Object.entries(bin)) targets.set(name, info);
    await Promise.all([...targets].map(([name, info]) => this.resolves(name, info)));
    const catalogVersion = snapshot.signed.unrecognizedFields[CATALOG_VERSION_FIELD];
    if (typeof catalogVersion !== 'number') throw new Error('snapshot has no catalog version');
    return { snapshotVersion: snapMeta.version, catalogVersion, targets };
  }

  /** A versioned bin, verified with the delegation of the top-level targets. */
  private bin(
    top: Metadata<Targets>,
    file: string,
    meta: MetaFile,
  ): Promise<Record<string, TargetInfo>> {
    const key = `${meta.version}.${file}`;
    let bin = this.bins.get(key);
    if (bin === undefined) {
      bin = (async () => {
        const md = Metadata.fromJSON(MetadataKind.Targets, await this.verified(key, meta));
        top.verifyDelegate(file.replace(/\.json$/, ''), md);
        const out: Record<string, TargetInfo> = {};
        for (const [name, t] of Object.entries(md.signed.targets))
          out[name] = { sha256: t.hashes['sha256'] ?? '', length: t.length, custom: t.custom };
        return out;
      })();
      this.bins.set(key, bin);
    }
    return bin;
  }

  /** A payload target is served under /content by its digest; a document by its hashed name. */
  private resolves(name: string, info: TargetInfo): Promise<void> {
    let check = this.blobs.get(info.sha256);
    if (check === undefined) {
      const url = name.startsWith('payloads/')
        ? `${this.base}/content/${info.sha256}`
        : `${this.base}/tuf/targets/${path.dirname(name)}/${info.sha256}.${path.basename(name)}`;
      check = (async () => {
        const res = await fetch(url);
        const bytes = Buffer.from(await res.arrayBuffer());
        if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
        if (bytes.length !== info.length || sha256(bytes) !== info.sha256)
          throw new Error(`${url}: not the bytes the target names`);
        if (name.startsWith('updates/')) {
          const doc = revisionFromXml(bytes.toString('utf8'));
          this.documents.set(info.sha256, {
            updateId: doc.updateId,
            revision: doc.revisionNumber,
            files: doc.files.map((f) => f.sha256),
          });
        }
      })();
      this.blobs.set(info.sha256, check);
    }
    return check;
  }

  /** An immutable file, checked against the length and hashes its parent role lists. */
  private async verified(file: string, meta: MetaFile): Promise<JsonOf<object>> {
    const res = await fetch(`${this.base}/tuf/${file}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`${file}: HTTP ${res.status}`);
    meta.verify(bytes);
    return JSON.parse(bytes.toString('utf8')) as JsonOf<object>;
  }

  private async json(file: string): Promise<JsonOf<object>> {
    const res = await fetch(`${this.base}/tuf/${file}`);
    if (res.status !== 200) throw new Error(`${file}: HTTP ${res.status}`);
    return (await res.json()) as JsonOf<object>;
  }
}

interface CatalogView {
  snapshotVersion: number;
  /** The signed `x-upcat-catalog-version` of the snapshot. */
  catalogVersion: number;
  targets: Map<string, TargetInfo>;
}

interface TargetInfo {
  sha256: string;
  length: number;
  custom: Record<string, unknown>;
}

function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** One catalog read by one client: when, and which updates (id -> revision) the catalog held. */
interface Read {
  started: number;
  ended: number;
  catalogVersion: number;
  updates: Map<string, number>;
}

/**
 * A snapshot is whole when every update document it lists is the one its target names and
 * every payload that document names is a target of the same snapshot.
 */
function halfMade(reader: CatalogReader, view: CatalogView): string[] {
  const problems: string[] = [];
  for (const [name, info] of view.targets) {
    if (!name.startsWith('updates/')) continue;
    const doc = reader.documentOf(info.sha256);
    if (doc === undefined) {
      problems.push(`version ${view.catalogVersion}: ${name} was not read`);
      continue;
    }
    if (name !== `updates/${doc.updateId}.xml` || doc.revision !== info.custom['revision'])
      problems.push(
        `version ${view.catalogVersion}: ${name} holds ${doc.updateId}/${doc.revision}`,
      );
    for (const sha of doc.files)
      if (view.targets.get(`payloads/${sha}`)?.sha256 !== sha)
        problems.push(
          `version ${view.catalogVersion}: ${name} names payloads/${sha}, not in the snapshot`,
        );
  }
  return problems;
}

/** fetch, with the socket error behind undici's bare "fetch failed" in the message. */
async function fetchExplained(url: string, init: RequestInit): Promise<Response> {
  const started = Date.now();
  try {
    return await fetch(url, init);
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    throw new Error(
      `${init.method ?? 'GET'} ${new URL(url).pathname} failed after ${Date.now() - started} ms: ${String(err)} (${String(cause)})`,
      { cause: err },
    );
  }
}

function updatesOf(view: CatalogView): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, info] of view.targets)
    if (name.startsWith('updates/'))
      out.set(String(info.custom['updateId']), Number(info.custom['revision']));
  return out;
}

dbTestSerial(
  '20 concurrent publishes and approvals while 120 clients sync and read the signed catalog',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const running = await startServer(site, { host: '127.0.0.1', port: 0 });
    t.teardown(() => running.close());
    const base = `http://127.0.0.1:${(running.server.address() as AddressInfo).port}`;
    const rootJson = JSON.parse(
      await readFile(path.join(site.signing?.repoDir ?? '', '1.root.json'), 'utf8'),
    ) as JsonOf<object>;
    const reader = new CatalogReader(
      base,
      Metadata.fromJSON(MetadataKind.Root, rootJson) as Metadata<Root>,
    );
    const policyKey = await site.sync.policyKey();
    const publish = await tokenOf(site, 'publish');
    const approve = await tokenOf(site, 'approve');

    const clients: Array<{ secret: string }> = [];
    for (let batch = 0; batch < CLIENTS; batch += 25) {
      const answers = await Promise.all(
        Array.from({ length: Math.min(25, CLIENTS - batch) }, async (_, i) => {
          const n = batch + i;
          const res = await fetch(`${base}/v1/clients`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(registration({ hardwareId: `hw-${n}`, name: `pc-${n}` })),
          });
          t.is(res.status, 201);
          return (await res.json()) as { secret: string; status: string };
        }),
      );
      clients.push(...answers);
    }
    t.true(clients.every((c) => c.secret !== undefined));

    const problems: string[] = [];
    const deadline = Date.now() + DEADLINE_MS;
    let phase: 'before' | 'publishing' | 'done' = 'before';
    // The publishes start only once every client has synced and read the catalog once, so
    // that the reads overlap the publishes (rather than mostly following them).
    let firstReads = 0;
    let everyClientRead: () => void = () => undefined;
    const allReading = new Promise<void>((resolve) => (everyClientRead = resolve));

    const clientLoop = async (
      secret: string,
    ): Promise<{ policy: Map<string, PolicyEntry>; reads: Read[] }> => {
      const policy = new Map<string, PolicyEntry>();
      const reads: Read[] = [];
      let anchor: string | undefined;
      let lastCatalog = 0;
      for (let last = false, round = 0; !last; round++) {
        last = phase === 'done'; // one more round after the publishers are done
        if (Date.now() > deadline) {
          problems.push('a client was still polling at the deadline');
          break;
        }
        // Endpoints poll; they do not spin. A random pause spreads them out (the first round
        // too, so that the first syncs do not arrive in one burst). 1-3 s keeps 120 clients at
        // about 60 syncs and 180 metadata reads a second, which a 2-core machine running the 20
        // publishes beside them can serve.
        await new Promise((r) =>
          setTimeout(r, round === 0 ? Math.random() * 2000 : 1000 + Math.random() * 2000),
        );
        const started = Date.now();
        try {
          const res = await fetch(
            `${base}/v1/sync${anchor === undefined ? '' : `?anchor=${encodeURIComponent(anchor)}`}`,
            { headers: { authorization: `Bearer ${secret}` } },
          );
          if (res.status === 200) {
            const body = (await res.json()) as { policy: SignedPolicy; anchor: string };
            const doc = body.policy.signed;
            if (!policyVerifies(body.policy, policyKey.keyval.public))
              problems.push('a policy did not verify');
            if (doc.catalogVersion < lastCatalog) problems.push('policy catalog version went back');
            lastCatalog = doc.catalogVersion;
            if (doc.full) policy.clear();
            for (const id of doc.removed) policy.delete(id);
            for (const d of doc.deployments) policy.set(d.updateId, d);
            anchor = body.anchor;
          } else if (res.status === 304) {
            await res.arrayBuffer();
            anchor = res.headers.get('x-upcat-anchor') ?? anchor;
          } else {
            problems.push(`sync answered ${res.status}`);
          }
        } catch (err) {
          problems.push(`sync failed: ${(err as Error).message}`);
        }
        // The catalog read after the policy must already hold everything the policy names.
        try {
          const view = await reader.read();
          reads.push({
            started,
            ended: Date.now(),
            catalogVersion: view.catalogVersion,
            updates: updatesOf(view),
          });
          problems.push(...halfMade(reader, view));
          for (const d of policy.values()) {
            const doc = view.targets.get(`updates/${d.updateId}.xml`);
            if (doc?.custom['revision'] !== d.revision)
              problems.push(
                `policy names ${d.updateId}/${d.revision}, the catalog ${String(doc?.custom['revision'])}`,
              );
            for (const f of d.files) {
              if (view.targets.get(`payloads/${f.sha256}`)?.sha256 !== f.sha256)
                problems.push(`policy names payload ${f.sha256} that the catalog lacks`);
            }
          }
        } catch (err) {
          problems.push(`catalog read failed: ${(err as Error).message}`);
        }
        if (round === 0 && ++firstReads === CLIENTS) everyClientRead();
      }
      return { policy, reads };
    };

    const publishOne = async (
      i: number,
    ): Promise<{ status: number; updateId: string; catalogVersion: number }> => {
      // Publishers start within a 4 s spread, so that the publishes span several client polls
      // even where the database takes them all in under a second; the later ones still queue
      // behind the earlier ones on a slower machine.
      await new Promise((r) => setTimeout(r, i * 200));
      const name = `build-${i}.bin`;
      const form = uploadForm(
        fileManifest(name, { product: `Product ${i}`, title: `Build ${i}` }),
        `payload ${i}`,
        name,
      );
      const res = await fetchExplained(`${base}/v1/updates`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${publish}`,
          'content-type': form.contentType,
          'idempotency-key': `k-${i}`,
        },
        body: new Uint8Array(form.body),
      });
      const body = (await res.json()) as { updateId: string; catalogVersion: number };
      const approval = await fetchExplained(`${base}/v1/deployments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${approve}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          updateId: body.updateId,
          group: 'All Computers',
          action: 'install',
        }),
      });
      await approval.arrayBuffer();
      if (approval.status !== 201) problems.push(`approval answered ${approval.status}`);
      return { status: res.status, updateId: body.updateId, catalogVersion: body.catalogVersion };
    };

    const loops = clients.map((c) => clientLoop(c.secret));
    const registered = Date.now();
    let waiting: NodeJS.Timeout | undefined;
    await Promise.race([
      allReading,
      new Promise<void>((resolve) => (waiting = setTimeout(resolve, DEADLINE_MS / 2))),
    ]);
    clearTimeout(waiting);
    if (firstReads < CLIENTS) problems.push(`only ${firstReads} clients read before publishing`);
    t.log(`every client synced and read the catalog once in ${Date.now() - registered} ms`);
    const publishStart = Date.now();
    phase = 'publishing';
    const published = await Promise.all(Array.from({ length: PUBLISHES }, (_, i) => publishOne(i)));
    const publishEnd = Date.now();
    phase = 'done';
    t.log(`publishes and approvals done in ${publishEnd - publishStart} ms`);
    const results = await Promise.all(loops);
    const reads = results.flatMap((r) => r.reads);
    t.log(`${reads.length} catalog reads by ${CLIENTS} clients in ${Date.now() - publishStart} ms`);

    t.deepEqual(problems.slice(0, 10), []);
    t.deepEqual(
      published.map((p) => p.status),
      Array<number>(PUBLISHES).fill(201),
    );
    t.is(new Set(published.map((p) => p.catalogVersion)).size, PUBLISHES);

    // The reads overlapped the publishes: while they were under way, clients saw the catalog
    // at more than one version (not just before and after).
    const during = new Set(
      reads
        // Overlapping the window, not inside it: on a quiet machine the 20 publishes can take
        // less time than one client's pause between reads.
        .filter((r) => r.started <= publishEnd && r.ended >= publishStart)
        .map((r) => r.catalogVersion),
    );
    t.log(
      `catalog versions seen while publishing: ${[...during].sort((a, b) => a - b).join(', ')}`,
    );
    t.true(during.size > 1, `versions seen while publishing: ${[...during].join(', ')}`);

    // What each read showed is exactly the publishes committed at its catalog version: the
    // versions strictly increase with each publish, every client sees them in that order, and
    // none sees an update before (or after losing) its version.
    const expectedAt = (version: number): string[] =>
      published
        .filter((p) => p.catalogVersion <= version)
        .map((p) => p.updateId)
        .sort();
    const mismatches: string[] = [];
    for (const [client, { reads: own }] of results.entries()) {
      let previous: Read | undefined;
      for (const r of own) {
        const ids = [...r.updates.keys()].sort();
        if (ids.join() !== expectedAt(r.catalogVersion).join())
          mismatches.push(`client ${client} at version ${r.catalogVersion}: ${ids.length} updates`);
        if (previous !== undefined) {
          if (r.catalogVersion < previous.catalogVersion)
            mismatches.push(
              `client ${client}: version ${previous.catalogVersion} then ${r.catalogVersion}`,
            );
          if (r.updates.size > previous.updates.size && r.catalogVersion <= previous.catalogVersion)
            mismatches.push(`client ${client}: new updates without a new version`);
          for (const id of previous.updates.keys())
            if (!r.updates.has(id)) mismatches.push(`client ${client}: lost ${id}`);
        }
        previous = r;
      }
    }
    t.deepEqual(mismatches.slice(0, 10), []);

    t.is(
      Number(((await site.db('updates').count({ n: '*' })) as Array<{ n: number | string }>)[0]?.n),
      PUBLISHES,
    );
    const versions = (
      (await site.db('catalog_versions').select('version').orderBy('version')) as Array<{
        version: number | string;
      }>
    ).map((r) => Number(r.version));
    const first = versions[0] ?? 0;
    t.deepEqual(
      versions,
      versions.map((_, i) => first + i),
      'catalog versions: no gaps, no duplicates',
    );
    t.is(await site.catalog.catalogVersion(), versions[versions.length - 1] ?? -1);
    // Nothing lost: every client ends with all 20 deployments, and the catalog lists them all.
    t.true(results.every((r) => r.policy.size === PUBLISHES));
    t.true(results.every((r) => r.reads.at(-1)?.updates.size === PUBLISHES));
    const final = await reader.read();
    t.deepEqual(halfMade(reader, final), []);
    t.is([...final.targets.keys()].filter((n) => n.startsWith('updates/')).length, PUBLISHES);
  },
);

function policyVerifies(policy: SignedPolicy, publicHex: string): boolean {
  const key = createPublicKey({
    key: Buffer.concat([
      Buffer.from('302a300506032b6570032100', 'hex'),
      Buffer.from(publicHex, 'hex'),
    ]),
    format: 'der',
    type: 'spki',
  });
  const sig = policy.signatures[0];
  return (
    sig !== undefined &&
    verify(null, Buffer.from(canonicalJson(policy.signed)), key, Buffer.from(sig.sig, 'hex'))
  );
}
