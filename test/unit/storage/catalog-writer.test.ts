import { lockCatalog, currentCatalogVersion } from '../../../src/storage/catalog-repo.js';
import { writeCatalog } from '../../../src/storage/catalog-writer.js';
import { dbTest } from '../../helpers/site.js';

dbTest(
  'catalog writers of one process take turns: one transaction at a time, a failure does not stop the queue',
  async (t, { site }) => {
    let inFlight = 0;
    let most = 0;
    const order: number[] = [];
    const writers = Array.from({ length: 12 }, (_, i) =>
      writeCatalog(site.db, async (trx) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        try {
          await lockCatalog(trx);
          await currentCatalogVersion(trx);
          await new Promise((r) => setTimeout(r, 5));
          order.push(i);
          if (i % 4 === 1) throw new Error(`writer ${i} fails`);
          return i;
        } finally {
          inFlight -= 1;
        }
      }),
    );
    const results = await Promise.allSettled(writers);
    t.is(most, 1, 'never two catalog transactions at once in one process');
    t.deepEqual(
      order,
      Array.from({ length: 12 }, (_, i) => i),
      'in arrival order',
    );
    t.deepEqual(
      results.map((r) => r.status),
      results.map((_, i) => (i % 4 === 1 ? 'rejected' : 'fulfilled')),
    );
    // The queue is empty again: a later writer runs at once.
    t.is(await writeCatalog(site.db, async () => 'after'), 'after');
  },
);
