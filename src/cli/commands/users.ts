import type { Command } from 'commander';
import type { UserView } from '../../site/users.js';
import { ROLES } from '../../site/vocabulary.js';
import { localActor, output } from '../context.js';
import { readPassword } from '../password-input.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';
import { table } from './table.js';

type Opts = RemoteOptions & { json?: boolean };
type PasswordOpts = Opts & { passwordStdin?: boolean };

const PASSWORD_HELP =
  'read the password from standard input (the first line); without it, a piped stdin is read, a terminal is asked twice without echo';

/**
 * `upcat users add|list|remove|role|passwd` (issue 14 item 4): people's accounts for the console,
 * locally or with `--server URL --token T` (an admin token), through `/v1/users`. A password is
 * never an argument: arguments show in `ps`.
 */
export function registerUsers(program: Command): void {
  const users = program
    .command('users')
    .description("people's accounts (roles admin, operator, viewer) for the web console");

  remoteOptions(
    users
      .command('add')
      .description('add an account; the password comes from stdin or the terminal')
      .argument('<name>', 'the login name (a-z 0-9 . _ - @; kept lower-case)')
      .requiredOption(
        '--role <role>',
        'admin (everything) | operator (approve, deploy) | viewer (read)',
      )
      .option('--password-stdin', PASSWORD_HELP)
      .option('--json', 'print JSON'),
  ).action(async (name: string, opts: PasswordOpts & { role: string }, cmd: Command) => {
    const password = await readPassword({ stdin: opts.passwordStdin });
    const input = { name, role: opts.role, password };
    const user = await localOrRemote(
      cmd,
      opts,
      (site) => site.users.add(input, localActor()),
      (remote) => remote.postJson<UserView>('/v1/users', input),
    );
    output(opts.json, user, () => `added user "${user.name}" (${user.role})`);
  });

  remoteOptions(
    users
      .command('list')
      .description('every account (never a password)')
      .option('--json', 'print JSON'),
  ).action(async (opts: Opts, cmd: Command) => {
    const list = await localOrRemote(
      cmd,
      opts,
      (site) => site.users.list(),
      async (remote) => {
        const out: UserView[] = [];
        let cursor: string | undefined;
        do {
          const page = await remote.getJson<{ users: UserView[]; next: string | null }>(
            '/v1/users',
            { limit: 1000, cursor },
          );
          out.push(...page.users);
          cursor = page.next ?? undefined;
        } while (cursor !== undefined);
        return out;
      },
    );
    output(opts.json, list, () =>
      table(
        ['NAME', 'ROLE', 'CREATED', 'CHANGED'],
        list.map((u) => [u.name, u.role, u.createdAt, u.changedAt]),
      ),
    );
  });

  remoteOptions(
    users
      .command('remove')
      .description('remove an account; its sessions end at once')
      .argument('<name>', 'the login name')
      .option('--json', 'print JSON'),
  ).action(async (name: string, opts: Opts, cmd: Command) => {
    const user = await localOrRemote(
      cmd,
      opts,
      (site) => site.users.remove(name, localActor()),
      (remote) => remote.request<UserView>('DELETE', `/v1/users/${encodeURIComponent(name)}`),
    );
    output(opts.json, user, () => `removed user "${user.name}"`);
  });

  remoteOptions(
    users
      .command('role')
      .description("change an account's role (the last admin keeps it)")
      .argument('<name>', 'the login name')
      .argument('<role>', ROLES.join(' | '))
      .option('--json', 'print JSON'),
  ).action(async (name: string, role: string, opts: Opts, cmd: Command) => {
    const user = await localOrRemote(
      cmd,
      opts,
      (site) => site.users.setRole(name, role, localActor()),
      (remote) =>
        remote.request<UserView>('PATCH', `/v1/users/${encodeURIComponent(name)}`, {
          json: { role },
        }),
    );
    output(opts.json, user, () => `"${user.name}" is now ${user.role}`);
  });

  remoteOptions(
    users
      .command('passwd')
      .description("set an account's password; its sessions end")
      .argument('<name>', 'the login name')
      .option('--password-stdin', PASSWORD_HELP)
      .option('--json', 'print JSON'),
  ).action(async (name: string, opts: PasswordOpts, cmd: Command) => {
    const password = await readPassword({ stdin: opts.passwordStdin });
    const user = await localOrRemote(
      cmd,
      opts,
      (site) => site.users.passwd(name, password, localActor()),
      (remote) =>
        remote.postJson<UserView>(`/v1/users/${encodeURIComponent(name)}/password`, { password }),
    );
    output(opts.json, user, () => `changed the password of "${user.name}"; its sessions ended`);
  });
}
