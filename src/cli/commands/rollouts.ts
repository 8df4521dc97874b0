import { Option, type Command } from '../commander.js';
import { UpcatError } from '../../errors.js';
import type { RolloutView } from '../../site/rollouts-model.js';
import { parseRolloutId, ROLLOUT_ACTIONS, ROLLOUT_STATUSES } from '../../site/vocabulary.js';
import type { AdvanceReport } from '../../site/rollouts.js';
import { localActor, output, withSite } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';
import { allPages } from '../remote-pages.js';
import { table } from './table.js';
import { jsonObjectFile } from './rollouts-windows.js';

type Opts = RemoteOptions & { json?: boolean };

const RING_KEYS = new Set(['percent', 'minSuccess', 'minReporting', 'wait']);

/**
 * `upcat rollouts create|list|show|pause|resume|stop|advance` (issue 14 item 6), on the local
 * site or with `--server URL --token T` through `/v1/rollouts`. `advance` is one pass of the
 * engine that `upcat serve` runs on a timer (local only: it is the server's own work).
 */
export function registerRollouts(program: Command): void {
  const rollouts = program
    .command('rollouts')
    .description('rollouts: an update deployed ring by ring, advancing on evidence');
  const sub = (name: string, description: string): Command =>
    remoteOptions(rollouts.command(name).description(description).option('--json', 'print JSON'));

  sub('create', 'start a rollout: the first ring is deployed at once')
    .argument('[updateId]', 'the update to roll out (or "updateId" in --file)')
    .option(
      '--ring <spec>',
      'a ring, in order: "GROUP" or "GROUP:percent=10,minSuccess=95,minReporting=5,wait=2h" (repeat)',
      (value: string, prior: string[] = []) => [...prior, value],
    )
    .option('--name <name>', 'a name for the rollout (default: the update title)')
    .addOption(
      new Option('--action <action>', 'what each ring is deployed for').choices([
        ...ROLLOUT_ACTIONS,
      ]),
    )
    .option('--deadline <duration>', "each ring's deadline after it starts, such as 3d")
    .option('--file <path>', 'the whole rollout as JSON (the body of POST /v1/rollouts)')
    .action(
      async (
        updateId: string | undefined,
        opts: Opts & {
          ring?: string[];
          name?: string;
          action?: string;
          deadline?: string;
          file?: string;
        },
        cmd: Command,
      ) => {
        const body = await createBody(updateId, opts);
        const r = await localOrRemote(
          cmd,
          opts,
          (site) => site.rollouts.create(body, localActor()),
          (remote) => remote.postJson<RolloutView>('/v1/rollouts', body),
        );
        output(opts.json, r, () => `created rollout ${r.id}\n${describe(r)}`);
      },
    );

  sub('list', 'rollouts, newest first')
    .addOption(new Option('--status <status>', 'only these').choices([...ROLLOUT_STATUSES]))
    .action(async (opts: Opts & { status?: (typeof ROLLOUT_STATUSES)[number] }, cmd: Command) => {
      const list = await localOrRemote(
        cmd,
        opts,
        async (site) => {
          const all: RolloutView[] = [];
          let before: number | undefined;
          for (;;) {
            const page = await site.rollouts.page({ limit: 200, before, status: opts.status });
            all.push(...page.items);
            if (page.next === null) return all;
            before = page.items.at(-1)?.id;
          }
        },
        (remote) =>
          allPages<RolloutView>(remote, '/v1/rollouts', 'rollouts', { status: opts.status }),
      );
      output(opts.json, list, () =>
        list.length === 0
          ? 'no rollouts'
          : table(
              ['ID', 'NAME', 'UPDATE', 'STATUS', 'RING', 'CREATED'],
              list.map((r) => [
                r.id,
                r.name,
                r.updateId,
                r.status,
                `${r.currentRing + 1}/${r.rings.length} ${r.rings[r.currentRing]?.group ?? ''}`,
                r.createdAt,
              ]),
            ),
      );
    });

  sub('show', 'a rollout: its rings with their evidence, and its history')
    .argument('<id>', 'the rollout ID (upcat rollouts list)')
    .action(async (idText: string, opts: Opts, cmd: Command) => {
      const id = parseRolloutId(idText);
      const r = await localOrRemote(
        cmd,
        opts,
        (site) => site.rollouts.show(id),
        (remote) => remote.getJson<RolloutView>(`/v1/rollouts/${id}`),
      );
      output(opts.json, r, () => describe(r));
    });

  for (const [verb, description] of [
    ['pause', 'hold a running rollout where it is'],
    ['resume', 'let a paused or failed rollout go on (a failed one is judged again)'],
    ['stop', 'end a rollout for good; deployments already made stay'],
  ] as const) {
    sub(verb, description)
      .argument('<id>', 'the rollout ID')
      .action(async (idText: string, opts: Opts, cmd: Command) => {
        const id = parseRolloutId(idText);
        const r = await localOrRemote(
          cmd,
          opts,
          (site) => site.rollouts[verb](id, localActor()),
          (remote) => remote.postJson<RolloutView>(`/v1/rollouts/${id}/${verb}`, {}),
        );
        output(opts.json, r, () => `rollout ${r.id} is ${r.status}`);
      });
  }

  rollouts
    .command('advance')
    .description('one pass of the rollout engine (what `upcat serve` runs on a timer), for cron')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      // The engine only with the site: `rollouts list --server` has no use for it.
      const { advanceOnce } = await import('../../site/rollouts-engine.js');
      const report = await withSite(cmd, (site) => advanceOnce(site));
      output(opts.json, report, () => describeAdvance(report));
    });
}

async function createBody(
  updateId: string | undefined,
  opts: { ring?: string[]; name?: string; action?: string; deadline?: string; file?: string },
): Promise<Record<string, unknown>> {
  const body = opts.file === undefined ? {} : await jsonObjectFile(opts.file);
  const rings = (opts.ring ?? []).map(parseRing);
  if (rings.length > 0) body['rings'] = rings;
  if (updateId !== undefined) body['updateId'] = updateId;
  if (opts.name !== undefined) body['name'] = opts.name;
  if (opts.action !== undefined) body['action'] = opts.action;
  if (opts.deadline !== undefined) body['deadline'] = opts.deadline;
  if (body['updateId'] === undefined)
    throw new UpcatError('invalid_input', 'updateId: give the update to roll out');
  if (body['rings'] === undefined)
    throw new UpcatError('invalid_input', '--ring: give at least one ring (or "rings" in --file)');
  return body;
}

/** `"Ring 1:percent=10,wait=2h"` → `{group: 'Ring 1', percent: 10, wait: '2h'}`. */
export function parseRing(spec: string): Record<string, unknown> {
  const colon = spec.lastIndexOf(':');
  const tail = colon < 0 ? '' : spec.slice(colon + 1);
  if (colon < 0 || !/^\w+=[^,]*(,\w+=[^,]*)*$/.test(tail)) return { group: spec };
  const ring: Record<string, unknown> = { group: spec.slice(0, colon) };
  for (const pair of tail.split(',')) {
    const [key = '', value = ''] = pair.split('=');
    if (!RING_KEYS.has(key))
      throw new UpcatError(
        'invalid_input',
        `--ring: "${key}" is not a ring setting (percent, minSuccess, minReporting, wait)`,
      );
    if (key === 'wait') ring[key] = value;
    else if (/^\d+(\.\d+)?$/.test(value)) ring[key] = Number(value);
    else throw new UpcatError('invalid_input', `--ring: ${key}=${value} is not a number`);
  }
  return ring;
}

function describe(r: RolloutView): string {
  const head = [
    `rollout ${r.id} "${r.name}": ${r.status}, ${r.action} of ${r.updateId} (${r.title})`,
    `created ${r.createdAt} by ${r.createdBy}${r.deadline === null ? '' : `; each ring's deadline ${r.deadline} after it starts`}`,
    ...(r.holding === null ? [] : [`holding: ${r.holding}`]),
  ];
  const rings = table(
    [
      'RING',
      'GROUP',
      'STATE',
      'PERCENT',
      'MIN SUCCESS',
      'MIN REPORTING',
      'WAIT',
      'INSTALLED',
      'FAILED',
      'SUCCESS',
      'STARTED',
    ],
    r.rings.map((g) => [
      g.index + 1,
      g.group,
      g.state,
      `${g.percent}%`,
      `${g.minSuccess}%`,
      g.minReporting,
      g.wait,
      g.evidence.installed,
      g.evidence.failed,
      g.evidence.reporting === 0 ? '-' : `${g.evidence.successRate.toFixed(1)}%`,
      g.startedAt ?? '-',
    ]),
  );
  const history = table(
    ['AT', 'STEP', 'RING', 'BY'],
    r.history.map((h) => [h.at, h.step, h.ring === null ? '-' : h.ring + 1, h.by]),
  );
  return [...head, rings, history].join('\n');
}

function describeAdvance(r: AdvanceReport): string {
  const lines = [`checked ${r.checked} running rollout(s) at ${r.at}`];
  for (const a of r.advanced)
    lines.push(
      a.done ? `rollout ${a.id}: done` : `rollout ${a.id}: advanced to ring ${a.ring + 1}`,
    );
  for (const f of r.failed) lines.push(`rollout ${f.id}: failed: ${f.reason}`);
  for (const h of r.held) lines.push(`rollout ${h.id}: holding: ${h.reason}`);
  return lines.join('\n');
}
