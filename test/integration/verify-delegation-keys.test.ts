import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { Metadata, MetadataKind } from '@tufjs/models';
import { parseDelegatedKeysOnce } from '../../src/verify/delegation-keys.js';
import { makeTufFixture } from '../helpers/tuf.js';

/**
 * The bins' signatures checked with delegated keys parsed once (verify/delegation-keys.ts, issue
 * 16) decide as tuf-js's own keys do: a good bin passes (again and again, with the key made
 * once), and a bin whose signed part was changed or whose signature is missing or bad is refused.
 */

type MetadataJson = Parameters<typeof Metadata.fromJSON>[1];

test('delegated keys parsed once: the same verdicts as tuf-js on good, altered and unsigned bins', async (t) => {
  const fx = await makeTufFixture();
  try {
    await fx.publish({ 'a.bin': 'a', 'b.bin': 'b', 'payloads/c.bin': 'c' });
    const read = async (file: string): Promise<MetadataJson> =>
      JSON.parse(await readFile(path.join(fx.repoDir, file), 'utf8')) as MetadataJson;
    const timestamp = (await read('timestamp.json')) as {
      signed: { meta: Record<string, { version: number }> };
    };
    const snapshotVersion = timestamp.signed.meta['snapshot.json']?.version ?? 0;
    const snapshot = (await read(`${snapshotVersion}.snapshot.json`)) as {
      signed: { meta: Record<string, { version: number }> };
    };
    const meta = snapshot.signed.meta;
    const targetsJson = await read(`${meta['targets.json']?.version ?? 0}.targets.json`);
    const [binFile, binMeta] = Object.entries(meta).find(([f]) => f !== 'targets.json') ?? [];
    if (binFile === undefined || binMeta === undefined) throw new Error('no bin');
    const role = binFile.replace(/\.json$/, '');
    const binJson = await read(`${binMeta.version}.${binFile}`);

    const tufjs = Metadata.fromJSON(MetadataKind.Targets, targetsJson);
    const once = Metadata.fromJSON(MetadataKind.Targets, targetsJson);
    parseDelegatedKeysOnce(once.signed);
    const verdict = (targets: typeof tufjs, json: unknown): string => {
      try {
        targets.verifyDelegate(
          role,
          Metadata.fromJSON(MetadataKind.Targets, structuredClone(json) as MetadataJson),
        );
        return 'verified';
      } catch (err) {
        return (err as Error).message;
      }
    };
    const good = binJson as { signed: { version: number }; signatures: Array<{ sig: string }> };
    const altered = structuredClone(good);
    altered.signed.version += 1;
    const unsigned = { ...structuredClone(good), signatures: [] };
    const badSignature = structuredClone(good);
    for (const s of badSignature.signatures)
      s.sig = s.sig.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const cases = { good, again: good, altered, unsigned, badSignature };
    for (const [name, json] of Object.entries(cases)) {
      const expected = verdict(tufjs, json);
      t.is(verdict(once, json), expected, name);
      t.is(expected === 'verified', name === 'good' || name === 'again', name);
    }
  } finally {
    await fx.close();
  }
});
