import { runCli } from '../helpers/cli.js';
import { serveCli, stdoutOf as ok } from '../helpers/served-cli.js';
import { dbTestSerial } from '../helpers/site.js';
import { tokenOf } from '../helpers/tokens.js';
import { publishNumbered } from '../helpers/updates.js';

interface ListJson {
  updates: Array<{ updateId: string; status: string }>;
  next: string | null;
}

dbTestSerial(
  'upcat updates list, show, decline and undecline, locally and with --server',
  async (t, { site, env }) => {
    const ids = await publishNumbered(site, [1, 2, 3], (n) => ({ title: `Contoso ${n}` }));
    const [a, b, c] = ids as [string, string, string];

    // A table, newest first, with a hint when there is more.
    const first = ok(await runCli(['updates', 'list', '--limit', '2'], env));
    const lines = first.trimEnd().split('\n');
    t.regex(lines[0] ?? '', /^UPDATE\s+TITLE\s+PRODUCT\s+CLASSIFICATION\s+VERSION\s+REV\s+STATUS/);
    t.true(lines[1]?.startsWith(c));
    t.true(lines[2]?.startsWith(b));
    t.regex(lines[3] ?? '', /^\(more: run again with --all, or with --cursor \S+\)$/);
    const all = JSON.parse(
      ok(await runCli(['updates', 'list', '--all', '--limit', '1', '--json'], env)),
    ) as ListJson;
    t.deepEqual(
      all.updates.map((u) => u.updateId),
      [c, b, a],
    );
    t.is(all.next, null);
    const searched = JSON.parse(
      ok(await runCli(['updates', 'list', '--search', 'contoso 2', '--json'], env)),
    ) as ListJson;
    t.deepEqual(
      searched.updates.map((u) => u.updateId),
      [b],
    );

    // Show by a prefix: revisions, files with digests, rules, deployments.
    const shown = ok(await runCli(['updates', 'show', a.slice(0, 8)], env));
    t.regex(shown, new RegExp(`^update\\s+${a}$`, 'm'));
    t.regex(shown, /^status\s+live$/m);
    t.regex(shown, /^revision 1: Contoso 1$/m);
    t.regex(shown, /FILE\s+SIZE\s+SHA256\s+SHA1/);
    t.regex(shown, /is installable\s+\{"Platform":\{"Name":"linux"\}\}/);
    t.regex(shown, /^deployments\n {2}none$/m);

    // Bad input: one line on stderr, a non-zero exit.
    const bad = await runCli(['updates', 'list', '--status', 'gone'], env);
    t.not(bad.code, 0);
    t.is(bad.stderr.trim().split('\n').length, 1);
    t.regex(bad.stderr, /status: must be one of live, superseded, expired, declined/);
    const unknown = await runCli(['updates', 'show', 'ffff0000'], env);
    t.not(unknown.code, 0);
    t.regex(unknown.stderr, /no update ID starts with ffff0000/);

    const declined = ok(await runCli(['updates', 'decline', a], env));
    t.regex(
      declined,
      new RegExp(`^declined update ${a} \\(catalog version \\d+\\): no longer offered`),
    );
    t.is(
      ok(await runCli(['updates', 'decline', a], env)).trim(),
      `update ${a} was already declined`,
    );

    // The same commands against a server, with a token.
    const { url, stop } = await serveCli(env);
    try {
      const read = await tokenOf(site, 'read');
      const publish = await tokenOf(site, 'publish');
      const remote = (args: string[], token: string) =>
        runCli([...args, '--server', url, '--token', token], {
          PATH: process.env['PATH'],
          HOME: process.env['HOME'],
          UPCAT_HOME: '/nonexistent',
        });
      const listed = JSON.parse(
        ok(await remote(['updates', 'list', '--status', 'declined', '--json'], read)),
      ) as ListJson;
      t.deepEqual(
        listed.updates.map((u) => [u.updateId, u.status]),
        [[a, 'declined']],
      );
      const detail = JSON.parse(ok(await remote(['updates', 'show', a, '--json'], read))) as {
        status: string;
        revisions: Array<{ files: Array<{ sha256: string }> }>;
      };
      t.is(detail.status, 'declined');
      t.regex(detail.revisions[0]?.files[0]?.sha256 ?? '', /^[0-9a-f]{64}$/);
      const remoteAll = JSON.parse(
        ok(await remote(['updates', 'list', '--all', '--limit', '2', '--json'], read)),
      ) as ListJson;
      t.deepEqual(
        remoteAll.updates.map((u) => u.updateId),
        [c, b, a],
      );
      const forbidden = await remote(['updates', 'undecline', a], read);
      t.not(forbidden.code, 0);
      t.regex(forbidden.stderr, /this route needs publish/);
      const undeclined = JSON.parse(
        ok(await remote(['updates', 'undecline', a.slice(0, 8), '--json'], publish)),
      ) as { updateId: string; state: string; changed: boolean };
      t.deepEqual([undeclined.updateId, undeclined.state, undeclined.changed], [a, 'active', true]);
    } finally {
      await stop();
    }
    t.is((await site.updateAdmin.show(a)).status, 'live');
  },
);
