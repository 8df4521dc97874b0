import { runCli } from '../helpers/cli.js';
import { dbTestSerial } from '../helpers/site.js';

type Key = { role: string; keyid: string };

dbTestSerial(
  'keys rotate: a failure to write the audit row is a non-zero exit with one line, the rotation kept',
  async (t, { site, env }) => {
    // The audit log refuses this one row (a full disk, a lost connection, a read-only replica...).
    if (site.db.client.config.client === 'pg') {
      await site.db.raw(
        "create function upcat_test_no_audit() returns trigger language plpgsql as $$ begin if new.action = 'keys.rotate' then raise exception 'the audit log refused the row'; end if; return new; end $$",
      );
      await site.db.raw(
        'create trigger no_audit before insert on audit_log for each row execute function upcat_test_no_audit()',
      );
    } else {
      await site.db.raw(
        "create trigger no_audit before insert on audit_log when new.action = 'keys.rotate' begin select raise(abort, 'the audit log refused the row'); end",
      );
    }
    const keysOf = async (): Promise<Key[]> =>
      JSON.parse((await runCli(['keys', 'list', '--json'], env)).stdout) as Key[];
    const before = (await keysOf()).filter((k) => k.role === 'timestamp');

    const res = await runCli(['keys', 'rotate', 'timestamp'], env);
    t.is(res.code, 1);
    t.regex(
      res.stdout,
      /^rotated timestamp: 1 new key\(s\), 1 retired; root is now version (\d+|\?)\n$/,
    );
    const lines = res.stderr.split('\n');
    t.is(lines.length, 2, res.stderr);
    t.regex(
      lines[0] ?? '',
      /^upcat: keys rotate: timestamp was rotated, but its audit row was not written: .*the audit log refused the row/,
    );
    const after = (await keysOf()).filter((k) => k.role === 'timestamp');
    t.notDeepEqual(
      after.map((k) => k.keyid),
      before.map((k) => k.keyid),
      'the rotation stands',
    );
    t.is((await site.db('audit_log').where({ action: 'keys.rotate' })).length, 0);
  },
);
