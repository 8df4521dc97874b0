import type { Command } from 'commander';
import { AUDIT_DEFAULT_LIMIT, type AuditEntry } from '../../site/audit.js';
import { parseSince } from '../../site/duration.js';
import { output } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';
import { table } from './table.js';

/** `upcat audit [--since ISO|DURATION] [--limit N]` (issue 7): who changed what, when, from where. */
export function registerAudit(program: Command): void {
  const cmd = program
    .command('audit')
    .description('the audit log: every change, who made it, when and from where (oldest first)')
    .option('--since <when>', 'from this ISO 8601 time, or this long ago (7d, 12h)')
    .option('--limit <n>', 'at most this many, the newest', String(AUDIT_DEFAULT_LIMIT))
    .option('--json', 'print JSON');
  remoteOptions(cmd).action(
    async (
      opts: RemoteOptions & { since?: string; limit: string; json?: boolean },
      command: Command,
    ) => {
      const since = opts.since === undefined ? undefined : parseSince(opts.since, '--since');
      const limit = /^\d{1,6}$/.test(opts.limit) ? Number(opts.limit) : NaN;
      const entries = await localOrRemote(
        command,
        opts,
        (site) => site.audit.list({ since, limit }),
        async (remote) =>
          (
            await remote.getJson<{ entries: AuditEntry[] }>('/v1/audit', {
              since,
              limit: opts.limit,
            })
          ).entries,
      );
      output(opts.json, entries, () =>
        table(
          ['AT', 'ACTOR', 'ACTION', 'TARGET', 'SOURCE'],
          entries.map((e) => [e.at, e.actor, e.action, e.target ?? '-', e.source ?? '-']),
        ),
      );
    },
  );
}
