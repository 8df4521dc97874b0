import type { Command } from 'commander';
import { localActor, output, withSite } from '../context.js';
import { table } from './table.js';

/** `upcat token create|list|revoke` (issue 7): API tokens for pipelines and administrators. */
export function registerToken(program: Command): void {
  const token = program
    .command('token')
    .description(
      'API tokens for release pipelines and administrators (scopes read, publish, approve, admin)',
    );

  token
    .command('create')
    .description('create a token and print its secret (shown once, stored only as a hash)')
    .requiredOption(
      '--scope <scope>',
      'read | publish | approve | admin (admin implies the others; all imply read) | enroll (agents register trusted)',
    )
    .option('--name <name>', 'a name for the audit log (default: token-<id prefix>)')
    .option('--expires <duration>', 'lifetime such as 90d, 12h (default: no expiry)')
    .option('--json', 'print JSON: {"id","name","scope","token"} (expiry: "token list --json")')
    .action(
      async (
        opts: { scope: string; name?: string; expires?: string; json?: boolean },
        cmd: Command,
      ) => {
        await withSite(cmd, async (site) => {
          const t = await site.tokens.create(
            { name: opts.name, scope: opts.scope, expiresIn: opts.expires },
            localActor(),
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
        });
      },
    );

  token
    .command('list')
    .description('every token (never its secret)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const list = await site.tokens.list();
        output(opts.json, list, () =>
          table(
            ['ID', 'NAME', 'SCOPE', 'STATE', 'EXPIRES', 'LAST USED'],
            list.map((t) => [
              t.id,
              t.name,
              t.scope,
              t.state,
              t.expiresAt ?? '-',
              t.lastUsedAt ?? '-',
            ]),
          ),
        );
      });
    });

  token
    .command('revoke')
    .description('revoke a token; it is refused from then on')
    .argument('<idOrName>', 'the token id, or its name')
    .option('--json', 'print JSON')
    .action(async (idOrName: string, opts: { json?: boolean }, cmd: Command) => {
      await withSite(cmd, async (site) => {
        const t = await site.tokens.revoke(idOrName, localActor());
        output(opts.json, t, () => `revoked token "${t.name}" (${t.id})`);
      });
    });
}
