/**
 * upcat's Group Policy through the agent's real cycle against an in-process server: the
 * policy's ServerUrl finds the site when the command line names none, its SiteCode assigns the
 * agent (a site with another code is refused), and the command line still beats the policy.
 * The policy reader is replaced by its result here: the registry read itself is tested with
 * recorded reg.exe output (test/unit/agent/windows-policy.test.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { runCycle, type AgentOptions } from '../../src/agent/cycle.js';
import type { WindowsPolicy } from '../../src/agent/windows-policy.js';
import { UpcatError } from '../../src/errors.js';
import { startServer } from '../../src/server/serve.js';
import { SITE_VERSION } from '../../src/version.js';
import { dbTest } from '../helpers/site.js';

dbTest('Group Policy finds and assigns the site; the command line beats it', async (t, ctx) => {
  const running = await startServer(ctx.site, { host: '127.0.0.1', port: 0 });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-agent-gpo-'));
  try {
    const inventory = path.join(dir, 'inventory.json');
    await writeFile(
      inventory,
      JSON.stringify({ platform: { name: 'linux', version: '12', architecture: 'x64' } }),
    );
    const code = ctx.site.config.site.code;
    const policy =
      (p: Partial<WindowsPolicy>): (() => Promise<WindowsPolicy>) =>
      async () => ({ properties: {}, warnings: [], ...p });
    const base = (name: string): AgentOptions => ({
      stateDir: path.join(dir, name),
      inventory,
      hardwareId: `hw-${name}`,
      name,
      properties: {},
      installOptional: false,
      handlerTimeoutMs: 60_000,
      agentVersion: SITE_VERSION,
      log: pino({ level: 'silent' }),
      env: {},
    });

    const assigned = await runCycle({
      ...base('assigned'),
      readPolicy: policy({ server: running.url, siteCode: code }),
    });
    t.is(assigned.server, running.url);
    t.is(assigned.source, 'group policy');
    t.is(assigned.siteCode, code);
    t.truthy(assigned.clientId);

    const other = code === 'ZZZ' ? 'YYY' : 'ZZZ';
    const refused = await t.throwsAsync(
      runCycle({
        ...base('elsewhere'),
        readPolicy: policy({ server: running.url, siteCode: other }),
      }),
      { instanceOf: UpcatError },
    );
    t.is(refused?.code, 'incompatible_site');
    t.regex(refused?.message ?? '', new RegExp(`assigned to site ${other}`));

    // --server beats the policy's ServerUrl (which points nowhere here).
    const flagged = await runCycle({
      ...base('flagged'),
      server: running.url,
      readPolicy: policy({ server: 'http://127.0.0.1:9', siteCode: code }),
    });
    t.is(flagged.server, running.url);
    t.is(flagged.source, 'command line');
  } finally {
    await running.close();
    await rm(dir, { recursive: true, force: true });
  }
});
