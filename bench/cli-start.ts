/**
 * CLI start (issue 16): `upcat --help`, `upcat -V` and every command that does its work without
 * opening the site home, each against `node -e 0` in the same run. Target: each costs at most
 * 3× `node -e 0`.
 *
 * Measured with `hyperfine -N` (no shell in between). The figure compared is CPU time (user +
 * system, hyperfine's means), since on this shared two-core machine the wall time mostly says
 * how loaded the machine was; the wall mean is printed beside it. The runs are made in rounds
 * (every command a few times per round, then the next round), so a burst of load from someone
 * else falls on all commands alike rather than on whichever ran during it.
 *
 * Each command gets inputs that make it do its real work, quickly: `rules eval` a JSON rule pair
 * against an inventory snapshot, `package` a two-file build, `agent status` an agent state
 * directory, and the `--server` forms a local `upcat serve` that this benchmark starts (with an
 * admin token) and stops; `verify --server` checks that site's (empty) signed catalog.
 *
 * The target is about a command's start. For every command but one, the whole run is a start
 * followed by one request or a few milliseconds of work, so the whole run is what is judged.
 * `verify --server` then does its real work: it fetches and checks every role and bin of the
 * catalog as a TUF client does (tuf-js), which costs more than its start. It is judged up to its
 * first request (verifyStart: against a port nothing listens on, measured in rounds with its own
 * `node -e 0`), and its whole run is printed beside, with its ratio, so that what its start costs
 * and what its verification costs are both on record (docs/BENCHMARKS.md, round nine).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchResult } from './types.js';
import { assertBuilt, CLI, freePort, ROOT, timed, waitForHttp, workDir } from './util.js';

const ROUNDS = Number(process.env['CLI_START_ROUNDS'] ?? 3);
const RUNS_PER_ROUND = Number(process.env['CLI_START_RUNS'] ?? 5);
const TARGET = 3;
const VERIFY = 'upcat verify --server';

interface Measured {
  name: string;
  /** Means over every run, in milliseconds. */
  cpuMs: number;
  wallMs: number;
}

export async function run(): Promise<BenchResult> {
  assertBuilt(); // it runs the built CLI
  const dir = await workDir('cli-start');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const home = path.join(dir, 'site');
  await mkdir(home);
  const env = { PATH: process.env['PATH'] ?? '', HOME: dir, UPCAT_HOME: home };
  // A SQLite site of its own, whatever DATABASE_URL the caller has.
  await timed(process.execPath, [CLI, 'init', '--json'], { env });
  const token = (
    JSON.parse(
      (
        await timed(
          process.execPath,
          [CLI, 'token', 'create', '--scope', 'admin', '--name', 'bench', '--json'],
          { env },
        )
      ).stdout,
    ) as { token: string }
  ).token;
  const inputs = await writeInputs(dir);
  const port = await freePort();
  const server = spawn(
    process.execPath,
    [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1'],
    { env, cwd: ROOT, stdio: 'ignore' },
  );
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/healthz`);
    const remote = `--server ${url} --token ${token}`;
    const commands: Array<[string, string]> = [
      ['node -e 0', 'node -e 0'],
      ['upcat --help', 'upcat --help'],
      ['upcat -V', 'upcat -V'],
      [
        'upcat rules eval',
        `upcat rules eval --rules ${inputs.rules} --inventory ${inputs.inventory} --json`,
      ],
      [
        'upcat package',
        `upcat package ${inputs.build} --name Contoso --version 5.0.1 --out ${inputs.zip} --json`,
      ],
      ['upcat agent status --json', `upcat agent status --json --state-dir ${inputs.stateDir}`],
      ['upcat clients list --server', `upcat clients list --json ${remote}`],
      ['upcat groups list --server', `upcat groups list --json ${remote}`],
      ['upcat updates list --server', `upcat updates list --json ${remote}`],
      ['upcat deployments list --server', `upcat deployments list --json ${remote}`],
      ['upcat report stale --server', `upcat report stale --json ${remote}`],
      ['upcat audit --server', `upcat audit --json ${remote}`],
      ['upcat users list --server', `upcat users list --json ${remote}`],
      ['upcat rollouts list --server', `upcat rollouts list --json ${remote}`],
      ['upcat verify --server', `upcat verify --json --server ${url}`],
    ];
    // Every command must succeed before it is timed: a fast failure is not a start time.
    for (const [, line] of commands) await timed(...argv(line), { env });
    const results = await measure(commands, env, dir);
    const node = results.find((r) => r.name === 'node -e 0');
    if (node === undefined) throw new Error('cli-start: node -e 0 was not measured');
    const { start, node: startNode } = await verifyStart(env, dir);
    const startRatio = start.cpuMs / startNode.cpuMs;
    const figures: Record<string, number | string> = {
      'node -e 0: CPU ms': round(node.cpuMs),
      'node -e 0: wall ms': round(node.wallMs),
    };
    let worst = startRatio;
    for (const r of results) {
      if (r === node) continue;
      const ratio = r.cpuMs / node.cpuMs;
      if (r.name !== VERIFY) worst = Math.max(worst, ratio);
      const label = r.name === VERIFY ? `${r.name}, whole run (not in the target)` : r.name;
      figures[`${label}: CPU ms (× node)`] = `${round(r.cpuMs)} (${ratio.toFixed(2)}×)`;
      figures[`${label}: wall ms (× node)`] =
        `${round(r.wallMs)} (${(r.wallMs / node.wallMs).toFixed(2)}×)`;
    }
    figures[`${VERIFY}, up to its first request: CPU ms (× node)`] =
      `${round(start.cpuMs)} (${startRatio.toFixed(2)}×)`;
    figures['node -e 0 measured with it: CPU ms'] = round(startNode.cpuMs);
    return {
      name: 'CLI start: --help, -V and the commands that do not open the site',
      figures,
      reference: '`node -e 0`, CPU time (user + system), hyperfine -N, same run',
      ratio: Number(worst.toFixed(2)),
      target: `every command's start ≤ ${TARGET}× node -e 0 (CPU): the whole run, and for ${VERIFY} up to its first request (its whole run is printed beside); ratio is the worst command's`,
      met: worst <= TARGET,
    };
  } finally {
    await stop(server);
  }
}

/** The small inputs the commands work on. */
async function writeInputs(dir: string): Promise<{
  rules: string;
  inventory: string;
  build: string;
  zip: string;
  stateDir: string;
}> {
  const rules = path.join(dir, 'rules.json');
  const inventory = path.join(dir, 'inventory.json');
  const build = path.join(dir, 'build');
  const stateDir = path.join(dir, 'agent-state');
  await writeFile(
    rules,
    JSON.stringify({
      isInstalled: {
        MsiProductInstalled: { ProductCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}' },
      },
      isInstallable: {
        And: [
          { Processor: { Architecture: 'x64' } },
          {
            FileVersion: {
              Path: 'C:\\Contoso\\client.exe',
              Comparison: 'LessThan',
              Version: '6.0',
            },
          },
        ],
      },
    }),
  );
  await writeFile(
    inventory,
    JSON.stringify({
      platform: { name: 'windows', version: '10.0.19045', productType: 1, architecture: 'x64' },
      files: { 'C:\\Contoso\\client.exe': { version: '5.0.1.0', size: 123456 } },
      msiProducts: {},
    }),
  );
  await mkdir(path.join(build, 'bin'), { recursive: true });
  await writeFile(path.join(build, 'bin', 'client'), '#!/bin/sh\necho contoso\n', { mode: 0o755 });
  await writeFile(path.join(build, 'README.txt'), 'Contoso Client 5.0.1\n');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  return { rules, inventory, build, zip: path.join(dir, 'contoso.zip'), stateDir };
}

/**
 * `upcat verify --server` up to its first request: everything it loads and sets up, without the
 * verification itself (256 bins fetched and checked on an empty catalog). Pointed at a port
 * nothing listens on, it ends when that first request is refused; that it got that far is
 * checked before it is timed. hyperfine is told to accept its exit status (2), in a call of its
 * own so that no other command's failure is overlooked.
 */
async function verifyStart(
  env: NodeJS.ProcessEnv,
  dir: string,
): Promise<{ start: Measured; node: Measured }> {
  const line = `upcat verify --json --server http://127.0.0.1:${await freePort()}`;
  const outcome = await timed(...argv(line), { env }).then(
    () => 'it succeeded',
    (err: unknown) => String(err), // timed's error carries the command's stderr
  );
  if (!outcome.includes('ECONNREFUSED'))
    throw new Error(
      `cli-start: verify against a closed port did not reach its request: ${outcome}`,
    );
  // In rounds with its own `node -e 0`, as the other commands are.
  const both = await measure(
    [
      ['node -e 0', 'node -e 0'],
      ['verify start', line],
    ],
    env,
    dir,
    ['--ignore-failure'],
  );
  const node = both.find((m) => m.name === 'node -e 0');
  const start = both.find((m) => m.name === 'verify start');
  if (node === undefined || start === undefined)
    throw new Error('cli-start: verify start was not measured');
  return { start, node };
}

/** `upcat ...` runs the built CLI with this node; anything else is run as given. */
function argv(line: string): [string, string[]] {
  const [cmd = '', ...args] = line.split(' ');
  return cmd === 'upcat' ? [process.execPath, [CLI, ...args]] : [cmd, args];
}

/** hyperfine -N over all commands, ROUNDS times; the means are pooled over the rounds. */
async function measure(
  commands: Array<[string, string]>,
  env: NodeJS.ProcessEnv,
  dir: string,
  extra: string[] = [],
): Promise<Measured[]> {
  const sums = new Map<string, { cpu: number; wall: number; n: number }>();
  for (let round = 0; round < ROUNDS; round++) {
    const out = path.join(dir, `hyperfine-${round}.json`);
    const args = [
      '-N',
      '--warmup',
      '1',
      '--runs',
      String(RUNS_PER_ROUND),
      '--export-json',
      out,
      ...extra,
    ];
    for (const [name, line] of commands) {
      const [cmd, rest] = argv(line);
      args.push('--command-name', name, [cmd, ...rest].join(' '));
    }
    await timed('hyperfine', args, { env });
    const report = JSON.parse(await readFile(out, 'utf8')) as {
      results: Array<{ command: string; mean: number; user: number; system: number }>;
    };
    for (const r of report.results) {
      const s = sums.get(r.command) ?? { cpu: 0, wall: 0, n: 0 };
      s.cpu += (r.user + r.system) * 1000;
      s.wall += r.mean * 1000;
      s.n += 1;
      sums.set(r.command, s);
    }
  }
  return [...sums].map(([name, s]) => ({ name, cpuMs: s.cpu / s.n, wallMs: s.wall / s.n }));
}

function round(ms: number): number {
  return Math.round(ms);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

// `node --import tsx bench/cli-start.ts` runs it alone.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  process.stdout.write(`${JSON.stringify(await run(), null, 2)}\n`);
