import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openSite } from '../../src/app.js';
import { bumpEpoch } from '../../src/site/client-repo.js';
import { ChangeBoard } from '../../src/storage/change-board.js';
import { dbTest } from '../helpers/site.js';
import { eventually } from '../helpers/sync-server.js';

/**
 * The change board between the worker processes of one node (server.workers): two sites on one
 * database stand for two workers, each with its own watcher and database handle. The poll is a
 * minute, so what is seen within the test is seen through the board.
 */

async function boardFile(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-board-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return path.join(dir, 'changes');
}

dbTest(
  "another worker's change closes this one's cache before it commits, until it has read the database after",
  async (t, ctx) => {
    const file = await boardFile(t);
    ChangeBoard.create(file, 2);
    const a = ctx.site;
    const b = await openSite({ home: ctx.home, env: ctx.env, logLevel: 'silent' });
    t.teardown(() => b.close());
    a.changes.shareWith(ChangeBoard.open(file, 0, 2));
    b.changes.shareWith(ChangeBoard.open(file, 1, 2));
    await a.changes.start(60_000);
    await b.changes.start(60_000);
    t.teardown(() => {
      a.changes.stop();
      b.changes.stop();
    });
    t.not(b.changes.current(), undefined);
    let changes = 0;
    b.changes.onChange(() => changes++);

    await a.db.transaction(async (trx) => {
      await bumpEpoch(trx, ['00000000-0000-4000-8000-000000000000']);
      // Not committed yet: b trusts nothing it cached already.
      t.is(b.changes.current(), undefined);
      t.is(a.changes.current(), undefined);
    });
    t.true(changes > 0, "b's listeners heard of the change");
    // Committed: b reads the database again (its own poll, started by the board), then reopens.
    const after = await eventually(
      async () => b.changes.current(),
      (s) => s !== undefined,
    );
    t.not(after, undefined);

    // A change that rolled back settles the same way.
    await t.throwsAsync(
      a.db.transaction(async (trx) => {
        await bumpEpoch(trx, ['00000000-0000-4000-8000-000000000000']);
        t.is(b.changes.current(), undefined);
        throw new Error('rolled back');
      }),
      { message: 'rolled back' },
    );
    t.not(
      await eventually(
        async () => b.changes.current(),
        (s) => s !== undefined,
      ),
      undefined,
    );
  },
);

dbTest('a worker that died inside a change is cleared by its primary', async (t, ctx) => {
  const file = await boardFile(t);
  ChangeBoard.create(file, 2);
  const dying = ChangeBoard.open(file, 0, 2);
  ctx.site.changes.shareWith(ChangeBoard.open(file, 1, 2));
  await ctx.site.changes.start(60_000);
  t.teardown(() => ctx.site.changes.stop());
  t.not(ctx.site.changes.current(), undefined);
  dying.begin(); // and never ends: the process was killed
  t.is(ctx.site.changes.current(), undefined);
  t.is(ctx.site.changes.current(), undefined, 'still closed while the change is open');
  ChangeBoard.clear(file, 0);
  t.not(
    await eventually(
      async () => ctx.site.changes.current(),
      (s) => s !== undefined,
    ),
    undefined,
  );
  // A replacement in the same slot goes on from the slot's count: its first change is a move.
  const replacement = ChangeBoard.open(file, 0, 2);
  replacement.note();
  t.is(ctx.site.changes.current(), undefined);
  dying.close();
  replacement.close();
});

test('the board is made once, and a slot outside it is refused', async (t) => {
  const file = await boardFile(t);
  ChangeBoard.create(file, 2);
  t.throws(() => ChangeBoard.create(file, 2), { code: 'EEXIST' });
  t.throws(() => ChangeBoard.open(file, 2, 2), { message: /slot 2 is not one of 2/ });
  const own = ChangeBoard.open(file, 0, 2);
  const other = ChangeBoard.open(file, 1, 2);
  own.begin();
  t.false(own.moved(), 'its own slot is not a move');
  t.true(other.moved());
  t.true(other.othersOpen);
  own.end();
  t.true(other.moved());
  t.false(other.othersOpen);
  t.false(other.moved(), 'nothing new since the last read');
  own.close();
  other.close();
});
