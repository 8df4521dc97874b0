import type { Command } from 'commander';
import type { CreatedToken, TokenView } from '../../site/tokens.js';
import { localActor, output } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteClient, type RemoteOptions } from '../remote.js';
import { table } from './table.js';

type Opts = RemoteOptions & { json?: boolean };

/**
 * `upcat token create|list|revoke` (issue 7): API tokens for pipelines and administrators; on
 * the site home, or with `--server URL --token T` (an admin token) through /v1/tokens (issue 14).
 */
export function registerToken(program: Command): void {
  const token = program
    .command('token')
    .description(
      'API tokens for release pipelines and administrators (scopes read, publish, approve, admin)',
    );

  remoteOptions(
    token
      .command('create')
      .description('create a token and print its secret (shown once, stored only as a hash)')
      .requiredOption(
        '--scope <scope>',
        'read | publish | approve | admin (admin implies the others; all imply read) | enroll (agents register trusted)',
      )
      .option('--name <name>', 'a name for the audit log (default: token-<id prefix>)')
      .option('--expires <duration>', 'lifetime such as 90d, 12h (default: no expiry)')
      .option('--json', 'print JSON: {"id","name","scope","token"} (expiry: "token list --json")'),
  ).action(
    async (opts: Opts & { scope: string; name?: string; expires?: string }, cmd: Command) => {
      const input = { name: opts.name, scope: opts.scope, expiresIn: opts.expires };
      const t = await localOrRemote(
        cmd,
        opts,
        (site) => site.tokens.create(input, localActor()),
        (remote) => remote.postJson<CreatedToken>('/v1/tokens', withoutUndefined(input)),
      );
      // Exactly the issue's contract; the expiry is in `token list --json`.
      const printed = { id: t.id, name: t.name, scope: t.scope, token: t.token };
      output(opts.json, printed, () =>
        [
          `created token "${t.name}" (${t.id}), scope ${t.scope}, ${t.expiresAt === null ? 'no expiry' : `expires ${t.expiresAt}`}`,
          'the secret is shown once; store it now:',
          t.token,
        ].join('\n'),
      );
    },
  );

  remoteOptions(
    token
      .command('list')
      .description('every token (never its secret)')
      .option('--json', 'print JSON'),
  ).action(async (opts: Opts, cmd: Command) => {
    const list = await localOrRemote(cmd, opts, (site) => site.tokens.list(), everyToken);
    output(opts.json, list, () =>
      table(
        ['ID', 'NAME', 'SCOPE', 'STATE', 'EXPIRES', 'LAST USED'],
        list.map((t) => [t.id, t.name, t.scope, t.state, t.expiresAt ?? '-', t.lastUsedAt ?? '-']),
      ),
    );
  });

  remoteOptions(
    token
      .command('revoke')
      .description('revoke a token; it is refused from then on')
      .argument('<idOrName>', 'the token id, or its name')
      .option('--json', 'print JSON'),
  ).action(async (idOrName: string, opts: Opts, cmd: Command) => {
    const t = await localOrRemote(
      cmd,
      opts,
      (site) => site.tokens.revoke(idOrName, localActor()),
      (remote) => remote.request<TokenView>('DELETE', `/v1/tokens/${encodeURIComponent(idOrName)}`),
    );
    output(opts.json, t, () => `revoked token "${t.name}" (${t.id})`);
  });
}

/** Every page of `GET /v1/tokens`. */
async function everyToken(remote: RemoteClient): Promise<TokenView[]> {
  const out: TokenView[] = [];
  let cursor: string | undefined;
  do {
    const page = await remote.getJson<{ tokens: TokenView[]; next: string | null }>('/v1/tokens', {
      limit: 1000,
      cursor,
    });
    out.push(...page.tokens);
    cursor = page.next ?? undefined;
  } while (cursor !== undefined);
  return out;
}

function withoutUndefined(value: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(value).filter((e): e is [string, string] => e[1] !== undefined),
  );
}
