import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../../src/server/serve.js';
import { endpoint, linux } from '../helpers/agent-endpoint.js';
import { runCliWithin } from '../helpers/processes.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTestSerial } from '../helpers/site.js';

/**
 * An agent whose clock is wrong (issue 13 item 8). The real agent process runs with its clock
 * moved by a preloaded module (a fault-injection seam: Date and Date.now shifted; nothing in
 * upcat is changed). TUF metadata carries expiry times, judged by the agent's clock (TUF spec
 * 5.3-5.6): a clock 30 days ahead sees the site's timestamp as expired and must refuse, saying so
 * in one line; a clock 30 days behind sees nothing expired (TUF has no "not before"), so the
 * agent works.
 */
const DAY = 24 * 60 * 60 * 1000;
const SHIFT = `const shift = Number(process.env.UPCAT_TEST_CLOCK_SHIFT_MS ?? 0);
const Real = Date;
class Shifted extends Real {
  constructor(...args) { if (args.length === 0) super(Real.now() + shift); else super(...args); }
  static now() { return Real.now() + shift; }
}
globalThis.Date = Shifted;
`;

dbTestSerial(
  'an agent with a skewed clock: ahead refuses clearly, behind works',
  async (t, ctx) => {
    t.timeout(240_000);
    ctx.site.config.site.approval = 'auto-all';
    await publishBytes(ctx.site, 'payload', fileManifest('a.bin'), 'a.bin');
    const running = await startServer(ctx.site, { host: '127.0.0.1', port: 0 });
    const work = await mkdtemp(path.join(os.tmpdir(), 'upcat-skew-'));
    try {
      const preload = path.join(work, 'shift-clock.mjs');
      await writeFile(preload, SHIFT);
      const agentRun = async (name: string, shiftMs: number) => {
        const ep = await endpoint(work, name, linux('x64'));
        return runCliWithin(
          [
            'agent',
            '--once',
            '--server',
            running.url,
            '--state-dir',
            ep.stateDir,
            '--inventory',
            path.join(work, name, 'inventory.json'),
            '--hardware-id',
            `hw-${name}`,
          ],
          {
            PATH: process.env['PATH'],
            HOME: process.env['HOME'],
            NODE_OPTIONS: `--import=${preload}`,
            UPCAT_TEST_CLOCK_SHIFT_MS: String(shiftMs),
          },
          120_000,
        );
      };

      const ahead = await agentRun('ahead', 30 * DAY);
      t.false(ahead.timedOut);
      t.not(ahead.code, 0, 'an agent whose clock is 30 days ahead refuses the catalog');
      const lines = ahead.stderr.trim().split('\n');
      t.is(lines.length, 1, `one line: ${ahead.stderr}`);
      t.regex(ahead.stderr, /expired/i, 'the refusal says the metadata is expired');
      t.regex(ahead.stderr, /clock reads/, "the refusal names this machine's clock");
      t.log(`clock +30 days: ${ahead.stderr.trim()}`);

      const behind = await agentRun('behind', -30 * DAY);
      t.false(behind.timedOut);
      t.is(behind.code, 0, `a clock 30 days behind still works: ${behind.stderr}`);
    } finally {
      await running.close();
      await rm(work, { recursive: true, force: true });
    }
  },
);
