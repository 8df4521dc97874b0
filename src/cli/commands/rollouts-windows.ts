import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { UpcatError } from '../../errors.js';
import type { GroupWindowView } from '../../site/maintenance-window-store.js';
import { DAYS, type Day } from '../../site/vocabulary.js';
import { localActor, output } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';
import { table } from './table.js';

type Opts = RemoteOptions & { json?: boolean };

const path = (group: string): string =>
  `/v1/groups/${encodeURIComponent(group)}/maintenance-window`;

/**
 * `upcat groups window set|clear|show` (issue 14 item 6): a group's maintenance windows, when
 * its clients may install `install` deployments before their deadline. Locally or with
 * `--server URL --token T` through `/v1/groups/:name/maintenance-window`.
 */
export function registerGroupWindows(groups: Command): void {
  const window = groups
    .command('window')
    .description("a group's maintenance windows (when installs may run before their deadline)");
  const sub = (name: string, description: string): Command =>
    remoteOptions(window.command(name).description(description).option('--json', 'print JSON'));

  sub('set', "replace a group's maintenance windows")
    .argument('<group>', 'the group name')
    .option(
      '--window <spec>',
      'a window: "DAYS START DURATION", days as mon,tue or mon-fri, such as "mon-fri 22:00 4h" (repeat)',
      (value: string, prior: string[] = []) => [...prior, value],
    )
    .option('--timezone <zone>', 'UTC (default) or a fixed offset such as +02:00')
    .option('--file <path>', 'the windows as JSON: {"windows":[...],"timezone":"+02:00"}')
    .action(
      async (
        group: string,
        opts: Opts & { window?: string[]; timezone?: string; file?: string },
        cmd: Command,
      ) => {
        const body = await windowBody(opts);
        const w = await localOrRemote(
          cmd,
          opts,
          (site) => site.maintenanceWindows.set(group, body, localActor()),
          (remote) => remote.request<GroupWindowView>('PUT', path(group), { json: body }),
        );
        output(opts.json, w, () => describe(w.group, w));
      },
    );

  sub('clear', "remove a group's maintenance windows (its clients install at once again)")
    .argument('<group>', 'the group name')
    .action(async (group: string, opts: Opts, cmd: Command) => {
      const r = await localOrRemote(
        cmd,
        opts,
        (site) => site.maintenanceWindows.clear(group, localActor()),
        (remote) => remote.request<{ group: string; cleared: boolean }>('DELETE', path(group)),
      );
      output(opts.json, r, () =>
        r.cleared
          ? `cleared the maintenance windows of "${r.group}"`
          : `"${r.group}" had no maintenance windows`,
      );
    });

  sub('show', "a group's maintenance windows")
    .argument('<group>', 'the group name')
    .action(async (group: string, opts: Opts, cmd: Command) => {
      const r = await localOrRemote(
        cmd,
        opts,
        async (site) => ({
          group,
          maintenanceWindow: await site.maintenanceWindows.get(group),
        }),
        (remote) =>
          remote.getJson<{ group: string; maintenanceWindow: GroupWindowView | null }>(path(group)),
      );
      output(opts.json, r, () => describe(r.group, r.maintenanceWindow));
    });
}

async function windowBody(opts: {
  window?: string[];
  timezone?: string;
  file?: string;
}): Promise<Record<string, unknown>> {
  const body = opts.file === undefined ? {} : await jsonObjectFile(opts.file);
  if (opts.window !== undefined) body['windows'] = opts.window.map(parseWindow);
  if (opts.timezone !== undefined) body['timezone'] = opts.timezone;
  if (body['windows'] === undefined)
    throw new UpcatError('invalid_input', '--window: give at least one (or "windows" in --file)');
  return body;
}

/** `--file`: a JSON object, or one line saying why not. */
export async function jsonObjectFile(file: string): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (err) {
    throw new UpcatError('invalid_input', `--file: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UpcatError('invalid_input', '--file: must hold a JSON object');
  return parsed as Record<string, unknown>;
}

/** `"mon-fri 22:00 4h"` → `{days: ['mon',...,'fri'], start: '22:00', duration: '4h'}`. */
export function parseWindow(spec: string): Record<string, unknown> {
  const parts = spec.trim().split(/\s+/);
  if (parts.length !== 3)
    throw new UpcatError(
      'invalid_input',
      `--window: "${spec}" is not "DAYS START DURATION" (such as "mon-fri 22:00 4h")`,
    );
  const [days = '', start, duration] = parts;
  return { days: days.split(',').flatMap(dayRange), start, duration };
}

function dayRange(text: string): string[] {
  const [from, to] = text.toLowerCase().split('-');
  const a = DAYS.indexOf(from as Day);
  if (to === undefined || a < 0) return [text.toLowerCase()]; // the server names a bad day
  const b = DAYS.indexOf(to as Day);
  if (b < 0)
    throw new UpcatError('invalid_input', `--window: "${to}" is not a day (${DAYS.join(', ')})`);
  const out: string[] = [];
  for (let i = a; ; i = (i + 1) % 7) {
    out.push(DAYS[i] ?? '');
    if (i === b) return out;
  }
}

function describe(group: string, w: GroupWindowView | null): string {
  if (w === null) return `"${group}" has no maintenance windows: its clients install at once`;
  return [
    `maintenance windows of "${w.group}" (${w.timezone}), set ${w.updatedAt}:`,
    table(
      ['DAYS', 'START', 'DURATION'],
      w.windows.map((x) => [x.days.join(','), x.start, x.duration]),
    ),
  ].join('\n');
}
