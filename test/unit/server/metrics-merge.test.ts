import test from 'ava';
import { Counter, Histogram, Registry } from 'prom-client';
import { mergeExpositions } from '../../../src/server/metrics-merge.js';

/** A worker's exposition as prom-client writes it: a counter with labels, a histogram, a plain gauge. */
async function workerText(syncs: number, seconds: number[]): Promise<string> {
  const registry = new Registry();
  new Counter({
    name: 'upcat_syncs_total',
    help: 'Answered syncs',
    labelNames: ['result'],
    registers: [registry],
  }).inc({ result: 'not_modified' }, syncs);
  const h = new Histogram({
    name: 'upcat_request_seconds',
    help: 'Time',
    buckets: [0.01, 0.1],
    registers: [registry],
  });
  for (const s of seconds) h.observe(s);
  return `${await registry.metrics()}\nprocess_up 1\n`;
}

test('every worker sample is labelled, and each family is written once with its samples together', async (t) => {
  const merged = mergeExpositions([
    { worker: 1, text: await workerText(5, [0.5]) },
    { worker: 0, text: await workerText(3, [0.005, 0.05]) },
  ]);
  const lines = merged.trim().split('\n');
  t.is(lines.filter((l) => l === '# HELP upcat_syncs_total Answered syncs').length, 1);
  t.is(lines.filter((l) => l === '# TYPE upcat_request_seconds histogram').length, 1);
  // Worker 0 first, then worker 1, within the family.
  const syncs = lines.filter((l) => l.startsWith('upcat_syncs_total'));
  t.deepEqual(syncs, [
    'upcat_syncs_total{worker="0",result="not_modified"} 3',
    'upcat_syncs_total{worker="1",result="not_modified"} 5',
  ]);
  t.true(lines.includes('upcat_request_seconds_bucket{worker="0",le="0.01"} 1'));
  t.true(lines.includes('upcat_request_seconds_bucket{worker="1",le="+Inf"} 1'));
  t.true(lines.includes('upcat_request_seconds_count{worker="0"} 2'));
  t.true(lines.includes('process_up{worker="1"} 1'));
  // Each family's samples follow its own HELP/TYPE and no other family's.
  const family = (l: string): string =>
    l.startsWith('#') ? l.split(' ')[2]! : l.split(/[{ ]/)[0]!;
  const order = lines.map(family);
  const histStart = order.indexOf('upcat_request_seconds');
  const histEnd = order.lastIndexOf('upcat_request_seconds_count');
  t.true(order.slice(histStart, histEnd + 1).every((f) => f.startsWith('upcat_request_seconds')));
  t.true(merged.endsWith('\n'));
});

test('empty label braces and a worker with no metrics', (t) => {
  t.is(
    mergeExpositions([
      { worker: 2, text: '# TYPE x counter\nx{} 4\n' },
      { worker: 3, text: '' },
    ]),
    '# TYPE x counter\nx{worker="2"} 4\n',
  );
});
