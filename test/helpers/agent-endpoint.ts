import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildPackage } from '../../src/publish/package.js';
import type { CliResult } from './cli.js';
import { runCliWithin } from './processes.js';

/**
 * Simulated endpoints for agent tests: each has its own state directory, inventory snapshot and
 * hardware ID, and runs the built CLI's `upcat agent --once`. Installers built with
 * `markerPackage` write a marker file into the endpoint's own marker directory, so a test can
 * tell exactly which installers ran where.
 */

export interface AgentRun extends CliResult {
  timedOut: boolean;
  report?: AgentCycleReport;
}

export interface AgentCycleReport {
  agentVersion: string;
  clientId: string;
  results: Array<{ updateId: string; state: string; detail?: string }>;
}

export interface Endpoint {
  name: string;
  stateDir: string;
  /** The markers the installers that ran here wrote, sorted. */
  markers(): Promise<string[]>;
  run(server: string, opts?: { timeoutMs?: number; extra?: string[] }): Promise<AgentRun>;
}

/** An inventory snapshot (DESIGN.md §8) of a Linux machine with these files. */
export function linux(arch: string, files: Record<string, unknown> = {}): Record<string, unknown> {
  return { platform: { name: 'linux', version: '12', architecture: arch }, files };
}

export async function endpoint(
  work: string,
  name: string,
  inventory: Record<string, unknown>,
): Promise<Endpoint> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  const inv = path.join(dir, 'inventory.json');
  await writeFile(inv, JSON.stringify(inventory));
  const stateDir = path.join(dir, 'state');
  const markerDir = path.join(dir, 'markers');
  return {
    name,
    stateDir,
    markers: async () => (await readdir(markerDir).catch(() => [] as string[])).sort(),
    run: async (server, opts = {}) => {
      const res = await runCliWithin(
        [
          'agent',
          '--once',
          '--json',
          '--server',
          server,
          '--state-dir',
          stateDir,
          '--inventory',
          inv,
          '--hardware-id',
          `hw-${name}`,
          '--name',
          name,
          '--property',
          `markerDir=${markerDir}`,
          ...(opts.extra ?? []),
        ],
        { PATH: process.env['PATH'], HOME: process.env['HOME'] },
        opts.timeoutMs ?? 120_000,
      );
      const line = res.stdout.trim().split('\n').pop() ?? '';
      return line.startsWith('{') ? { ...res, report: JSON.parse(line) as AgentCycleReport } : res;
    },
  };
}

/** The marker that the installer of `name` `version` writes when it runs. */
export const markerOf = (name: string, version: string): string =>
  `${name}-${version}`.toLowerCase().replace(/[^a-z0-9.]+/g, '-');

/**
 * A package whose `setup.sh` writes `markerOf(name, version)` into the directory named by the
 * installation property `markerDir`; `files` are added to it (large ones make a large payload).
 */
export async function markerPackage(
  work: string,
  name: string,
  version: string,
  files: Record<string, string | Buffer> = {},
): Promise<string> {
  const marker = markerOf(name, version);
  const dir = path.join(work, `pkg-${marker}`);
  await mkdir(dir, { recursive: true });
  const setup = `#!/bin/sh\nmkdir -p "$UPCAT_PROPERTY_markerDir" && echo ran > "$UPCAT_PROPERTY_markerDir/${marker}"\n`;
  await writeFile(path.join(dir, 'setup.sh'), setup, { mode: 0o755 });
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content, {
      mode: file.startsWith('bin/') ? 0o755 : 0o644,
    });
  }
  const out = path.join(work, `${marker}.zip`);
  await buildPackage({ dir, name, version, out });
  return out;
}
