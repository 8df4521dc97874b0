import test from 'ava';
import type { ModelRevision, WuaCatalog } from '../../../../src/windows/wusp/catalog-model.js';
import { computeSync, type Deployed } from '../../../../src/windows/wusp/sync.js';

/** company <- product; classification; app needs product+classification; bundle holds child. */
function catalog(): WuaCatalog {
  const revs: ModelRevision[] = [];
  const add = (revisionId: number, updateId: string, over: Partial<ModelRevision> = {}) =>
    revs.push({
      revisionId,
      updateId,
      revisionNumber: 1,
      type: 'Software',
      clauses: [],
      bundles: [],
      isLeaf: true,
      fragments: { core: `<core ${updateId}/>`, extended: '', localized: new Map() },
      download: undefined,
      deploymentClock: 5,
      ...over,
    });
  add(1, 'company', { type: 'Category', isLeaf: false, deploymentClock: 0 });
  add(2, 'product', {
    type: 'Category',
    clauses: [['company']],
    isLeaf: false,
    deploymentClock: 0,
  });
  add(3, 'class', { type: 'Category', isLeaf: false, deploymentClock: 0 });
  add(10, 'app', { clauses: [['product'], ['class']] });
  add(11, 'bundle', { clauses: [['product'], ['class']], bundles: ['child'] });
  add(12, 'child', { clauses: [['product'], ['class']] });
  add(13, 'other', { clauses: [['product'], ['class']] });
  return {
    version: 9,
    byRevisionId: new Map(revs.map((r) => [r.revisionId, r])),
    byUpdateId: new Map(revs.map((r) => [r.updateId, r])),
    updateOfRevisionId: new Map([
      ...revs.map((r) => [r.revisionId, r.updateId] as [number, string]),
      [4, 'app'],
    ]),
    bySha1: new Map(),
    partialRollout: false,
    excluded: new Map(),
  };
}

const deployed: Deployed[] = [
  { updateId: 'app', action: 'install', deadline: null },
  { updateId: 'bundle', action: 'optional', deadline: '2030-01-01T00:00:00.000Z' },
];
const input = { anchor: { catalogVersion: 0, policyEpoch: 1 }, policyEpoch: 1, pageSize: 50 };

test('the walk: roots first, then non-leaf, then bundles with their bundled updates, then leaf updates', (t) => {
  const c = catalog();
  const r1 = computeSync(c, deployed, { ...input, installedNonLeaf: [], otherCached: [] });
  t.deepEqual(
    r1.newUpdates.map((u) => [u.id, u.deployment.action]),
    [
      [1, 'Evaluate'],
      [3, 'Evaluate'],
    ],
  );
  t.false(r1.truncated, 'the product waits for its company: not offered yet, not truncated');
  const r2 = computeSync(c, deployed, { ...input, installedNonLeaf: [1, 3], otherCached: [] });
  t.deepEqual(
    r2.newUpdates.map((u) => [u.id, u.deployment.action]),
    [[2, 'Evaluate']],
  );
  const r3 = computeSync(c, deployed, { ...input, installedNonLeaf: [1, 2, 3], otherCached: [] });
  t.deepEqual(
    r3.newUpdates.map((u) => [u.id, u.deployment.action]),
    [
      [12, 'Bundle'],
      [11, 'OptionalInstall'],
    ],
  );
  t.true(r3.truncated, 'the leaf update is still to come');
  t.is(r3.newUpdates[1]?.deployment.deadline, '2030-01-01T00:00:00.000Z');
  const r4 = computeSync(c, deployed, {
    ...input,
    installedNonLeaf: [1, 2, 3],
    otherCached: [11, 12],
  });
  t.deepEqual(
    r4.newUpdates.map((u) => [u.id, u.deployment.action, u.isLeaf]),
    [[10, 'Install', true]],
  );
  t.is(r4.newUpdates[0]?.xml, '<core app/>');
  const r5 = computeSync(c, deployed, {
    ...input,
    installedNonLeaf: [1, 2, 3],
    otherCached: [10, 11, 12],
  });
  t.deepEqual(r5.newUpdates, []);
  t.deepEqual(r5.outOfScope, []);
});

test('out of scope: cached revisions no longer needed, unknown ones, and an old revision of an update', (t) => {
  const r = computeSync(catalog(), [{ updateId: 'app', action: 'install', deadline: null }], {
    ...input,
    installedNonLeaf: [1, 2, 3],
    otherCached: [4, 10, 11, 12, 777],
  });
  t.deepEqual(r.outOfScope, [4, 11, 12, 777]);
});

test('paging: at most pageSize per answer, Truncated set', (t) => {
  const r = computeSync(catalog(), deployed, {
    ...input,
    pageSize: 1,
    installedNonLeaf: [],
    otherCached: [],
  });
  t.is(r.newUpdates.length, 1);
  t.true(r.truncated);
});

test('changed updates: a deployment newer than the anchor, or every cached one after a policy epoch move', (t) => {
  const base = { installedNonLeaf: [1, 2, 3], otherCached: [10] };
  t.deepEqual(
    computeSync(catalog(), deployed, {
      ...input,
      ...base,
      anchor: { catalogVersion: 9, policyEpoch: 1 },
    }).changedUpdates,
    [],
  );
  t.deepEqual(
    computeSync(catalog(), deployed, {
      ...input,
      ...base,
      anchor: { catalogVersion: 4, policyEpoch: 1 },
    }).changedUpdates.map((u) => u.id),
    [10],
  );
  const moved = computeSync(catalog(), deployed, {
    ...input,
    ...base,
    anchor: { catalogVersion: 9, policyEpoch: 0 },
  });
  t.deepEqual(moved.changedUpdates.map((u) => u.id).sort(), [1, 10, 2, 3].sort());
  t.is(moved.changedUpdates[0]?.xml, undefined, 'changed updates carry no core fragment');
});

test('nothing deployed: nothing offered, everything cached out of scope', (t) => {
  const r = computeSync(catalog(), [], { ...input, installedNonLeaf: [1], otherCached: [10] });
  t.deepEqual(r.newUpdates, []);
  t.deepEqual(r.outOfScope, [1, 10]);
});
