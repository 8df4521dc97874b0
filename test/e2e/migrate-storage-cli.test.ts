import { readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CONFIG_FILE } from '../../src/config/load.js';
import { tufRepoDir } from '../../src/signing/tuf-repo.js';
import type { MetadataMigrationReport } from '../../src/signing/tuf-migrate.js';
import { runCli } from '../helpers/cli.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';

/**
 * `upcat migrate-storage --metadata <database|files>` (issue 15 item 2): --help, a dry run that
 * copies nothing, --json, the copy, a refusal when the target is not empty, a bad value.
 */
dbTest(
  'upcat migrate-storage moves the TUF metadata, with --dry-run and --json',
  async (t, ctx) => {
    await publishBytes(ctx.site, 'bytes', fileManifest('tool.bin'));
    const files = (await readdir(tufRepoDir(ctx.site.config.dirs.catalog))).filter((n) =>
      n.endsWith('.json'),
    );
    // The test's own site stays open and idle, as a stopped node would be: nothing writes meanwhile.

    const help = await runCli(['migrate-storage', '--help'], ctx.env);
    t.is(help.code, 0);
    t.regex(help.stdout, /--metadata <store>/);
    t.regex(help.stdout, /--dry-run/);

    const dry = await runCli(['migrate-storage', '--metadata', 'database', '--dry-run'], ctx.env);
    t.is(dry.code, 0, dry.stderr);
    t.regex(dry.stdout, new RegExp(`would copy ${files.length} metadata files`));

    const moved = await runCli(['migrate-storage', '--metadata', 'database', '--json'], ctx.env);
    t.is(moved.code, 0, moved.stderr);
    const report = JSON.parse(moved.stdout) as MetadataMigrationReport;
    t.like(report, { from: 'files', to: 'database', dryRun: false, files: files.length });

    const again = await runCli(['migrate-storage', '--metadata', 'database'], ctx.env);
    t.not(again.code, 0);
    t.regex(again.stderr, /already holds TUF metadata/);
    t.is(again.stderr.trim().split('\n').length, 1);

    // The site now on the database store: upcat verify serves it (fast path, rows) and tuf-js
    // checks every target against the database's catalog, with nothing under catalog/tuf/.
    await rm(tufRepoDir(ctx.site.config.dirs.catalog), { recursive: true, force: true });
    await writeFile(
      path.join(ctx.home, CONFIG_FILE),
      JSON.stringify({ storage: { metadata: 'database' } }),
    );
    const verify = await runCli(['verify', '--json'], ctx.env);
    t.is(verify.code, 0, verify.stderr);
    await t.throwsAsync(readdir(tufRepoDir(ctx.site.config.dirs.catalog)), { code: 'ENOENT' });

    const bad = await runCli(['migrate-storage', '--metadata', 's3'], ctx.env);
    t.not(bad.code, 0);
    t.regex(bad.stderr, /"s3" is not database or files/);
  },
);
