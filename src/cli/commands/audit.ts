import type { Command } from 'commander';
import { UpcatError } from '../../errors.js';
import { AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT, type AuditPage } from '../../site/audit.js';
import { parseSince } from '../../site/duration.js';
import { output } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';
import { table } from './table.js';

/**
 * `upcat audit [--since ISO|DURATION] [--limit N] [--before ID]` (issue 7): who changed what,
 * when, from where. A page that stops at the limit says so: `truncated` and `next` in the JSON,
 * a line on stderr under the table.
 */
export function registerAudit(program: Command): void {
  const cmd = program
    .command('audit')
    .description('the audit log: every change, who made it, when and from where (oldest first)')
    .option('--since <when>', 'from this ISO 8601 time, or this long ago (7d, 12h)')
    .option(
      '--limit <n>',
      `at most this many, the newest (1 to ${AUDIT_MAX_LIMIT})`,
      String(AUDIT_DEFAULT_LIMIT),
    )
    .option('--before <id>', 'only entries older than this id (the next page of a truncated one)')
    .option('--json', 'print JSON: {"entries":[...],"truncated","next":{"before"}|null}');
  remoteOptions(cmd).action(
    async (
      opts: RemoteOptions & { since?: string; limit: string; before?: string; json?: boolean },
      command: Command,
    ) => {
      const since = opts.since === undefined ? undefined : parseSince(opts.since, '--since');
      const limit = wholeNumber(opts.limit, '--limit', 6);
      const before =
        opts.before === undefined ? undefined : wholeNumber(opts.before, '--before', 15);
      const page = await localOrRemote(
        command,
        opts,
        (site) => site.audit.list({ since, limit, before }),
        (remote) => remote.getJson<AuditPage>('/v1/audit', { since, limit, before }),
      );
      output(opts.json, page, () =>
        table(
          ['AT', 'ACTOR', 'TOKEN', 'ACTION', 'TARGET', 'SOURCE'],
          page.entries.map((e) => [
            e.at,
            e.actor,
            e.tokenId ?? '-',
            e.action,
            e.target ?? '-',
            e.source ?? '-',
          ]),
        ),
      );
      if (opts.json !== true && page.next !== null)
        process.stderr.write(
          `upcat: truncated: only the newest ${page.entries.length} entries are shown; older ones match too (--before ${page.next.before}, or --limit up to ${AUDIT_MAX_LIMIT})\n`,
        );
    },
  );
}

function wholeNumber(value: string, flag: string, digits: number): number {
  if (!new RegExp(`^\\d{1,${digits}}$`).test(value))
    throw new UpcatError('invalid_input', `${flag}: "${value}" is not a whole number`);
  return Number(value);
}
