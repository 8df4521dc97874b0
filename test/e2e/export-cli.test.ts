import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { validateCatalog, validateSdpFiles } from '../helpers/sdp-schema.js';
import { dbTest } from '../helpers/site.js';

dbTest(
  'upcat export sdp|catalog: valid documents to new files; bad input is one line on stderr and writes nothing',
  async (t, { site, env }) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-export-cli-'));
    try {
      const win = await publishBytes(
        site,
        'win',
        fileManifest('win.exe', {
          title: 'Win Tool',
          product: 'Win Tool',
          isInstallable: { Platform: { Name: 'windows' } },
        }),
        'win.exe',
      );
      const linux = await publishBytes(
        site,
        'linux',
        fileManifest('tool.sh', { title: 'Linux Tool', product: 'Linux Tool' }),
        'tool.sh',
      );

      const sdp = path.join(dir, 'win.sdp');
      const one = await runCli(['export', 'sdp', win.updateId, '--out', sdp], env);
      t.is(one.code, 0, one.stderr);
      t.regex(one.stdout, new RegExp(`^exported update ${win.updateId} revision 1 to `));
      const [valid] = await validateSdpFiles([sdp]);
      t.true(valid?.valid, valid?.output);

      const catalog = path.join(dir, 'catalog.xml');
      const all = await runCli(['export', 'catalog', '--out', catalog, '--json'], env);
      t.is(all.code, 0, all.stderr);
      const report = JSON.parse(all.stdout) as {
        packages: Array<{ updateId: string }>;
        leftOut: Array<{ updateId: string; reason: string }>;
      };
      t.deepEqual(
        report.packages.map((p) => p.updateId),
        [win.updateId],
      );
      t.deepEqual(
        report.leftOut.map((l) => l.updateId),
        [linux.updateId],
      );
      t.deepEqual((await validateCatalog(await readFile(catalog, 'utf8'))).invalid, []);

      // To standard output, with the left-out packages named on stderr.
      const stdout = await runCli(['export', 'catalog', '--product', 'Win Tool'], env);
      t.is(stdout.code, 0, stdout.stderr);
      t.regex(
        stdout.stdout,
        /^<\?xml version="1.0" encoding="utf-8"\?>\n<smc:SystemsManagementCatalog /,
      );

      const oneLine = async (args: string[], message: RegExp) => {
        const res = await runCli(args, env);
        t.not(res.code, 0, args.join(' '));
        t.is(res.stderr.trimEnd().split('\n').length, 1, res.stderr);
        t.regex(res.stderr, message);
        t.is(res.stdout, '');
      };
      await writeFile(path.join(dir, 'taken.xml'), 'keep');
      await oneLine(
        ['export', 'catalog', '--out', path.join(dir, 'taken.xml')],
        /taken\.xml already exists/,
      );
      await oneLine(
        ['export', 'sdp', win.updateId, '--out', path.join(dir, 'taken.xml')],
        /taken\.xml already exists/,
      );
      t.is(await readFile(path.join(dir, 'taken.xml'), 'utf8'), 'keep');
      await oneLine(
        ['export', 'sdp', '6f1c2f0e-8c4e-4a52-9b7d-3c2f5e1a9d10', '--out', path.join(dir, 'x.sdp')],
        /does not exist/,
      );
      await oneLine(['export', 'sdp', 'not-a-guid'], /is not a GUID/);
      await oneLine(
        ['export', 'sdp', linux.updateId, '--out', path.join(dir, 'y.sdp')],
        /not applicable to Windows/,
      );
      await oneLine(
        ['export', 'catalog', '--since', 'yesterday'],
        /--since: "yesterday" is not a date/,
      );
      await oneLine(['export', 'catalog', '--json'], /--json needs --out/);
      await site.expire.expire(win.updateId, 'test');
      await oneLine(
        ['export', 'sdp', win.updateId, '--out', path.join(dir, 'z.sdp')],
        /is expired/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
