import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, collect, runCli, type CliResult } from '../helpers/cli.js';
import { serveCli } from '../helpers/served-cli.js';
import { registration } from '../helpers/clients.js';
import { dbTestSerial } from '../helpers/site.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RELEASE = path.join(REPO, 'examples/ci/release.sh');
const PROMOTE = path.join(REPO, 'examples/ci/promote.sh');

const ok = (r: CliResult, what: string): string => {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
};

/** Runs one of the example scripts with bash, as a CI job would, in `cwd`. */
function runScript(script: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  return collect(spawn('bash', [script, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** The fenced block of docs/CI-EXAMPLE.md that follows `<!-- include: FILE -->`. */
async function includedBlock(file: string): Promise<string | undefined> {
  const doc = await readFile(path.join(REPO, 'docs/CI-EXAMPLE.md'), 'utf8');
  const at = doc.indexOf(`<!-- include: ${file} -->`);
  if (at < 0) return undefined;
  const match = /```(?:bash|sh)\n([\s\S]*?)```/.exec(doc.slice(at));
  return match?.[1];
}

dbTestSerial(
  'docs/CI-EXAMPLE.md: the release and promote scripts run against a real server, as documented',
  async (t, { site, home, env }) => {
    // The doc shows the scripts themselves, so what is tested is what is documented.
    const t0 = Date.now();
    for (const file of ['examples/ci/release.sh', 'examples/ci/promote.sh'])
      t.is(await includedBlock(file), await readFile(path.join(REPO, file), 'utf8'), file);

    await writeFile(
      path.join(home, 'upcat.config.json'),
      JSON.stringify({ site: { approval: 'auto-all' } }),
    );
    ok(await runCli(['groups', 'create', 'ring1'], env), 'groups create');
    ok(await runCli(['groups', 'create', 'ring2'], env), 'groups create');
    const tokenOf = async (scope: string): Promise<string> =>
      (
        JSON.parse(
          ok(
            await runCli(
              ['token', 'create', '--scope', scope, '--name', `ci-${scope}`, '--json'],
              env,
            ),
            'token create',
          ),
        ) as { token: string }
      ).token;
    const publishToken = await tokenOf('publish');
    const approveToken = await tokenOf('approve');

    // The CI runner: a checkout of a Node project (whose package.json must survive), the build,
    // the root the endpoints trust, and `upcat` on the PATH. No site home.
    const runner = await mkdtemp(path.join(os.tmpdir(), 'upcat-ci-'));
    t.teardown(() => rm(runner, { recursive: true, force: true }));
    const projectPackage = '{ "name": "contoso-client", "private": true }\n';
    await writeFile(path.join(runner, 'package.json'), projectPackage);
    await cp(path.join(REPO, 'examples/contoso-client'), path.join(runner, 'build'), {
      recursive: true,
    });
    // Large (and incompressible) enough that every tenth of the upload is a read of its own.
    await writeFile(path.join(runner, 'build/data.bin'), randomBytes(12 * 1024 * 1024));
    await mkdir(path.join(runner, 'bin'));
    await symlink(CLI, path.join(runner, 'bin/upcat'));

    t.log(`setup: ${Date.now() - t0} ms`);
    const { url, stop } = await serveCli(env);
    try {
      // The site's first root (written when the server starts), as endpoints were provisioned.
      await mkdir(path.join(runner, 'trusted'));
      await cp(
        path.join(site.signing?.repoDir ?? '', '1.root.json'),
        path.join(runner, 'trusted/1.root.json'),
      );
      const ci: NodeJS.ProcessEnv = {
        PATH: `${path.join(runner, 'bin')}:${process.env['PATH'] ?? ''}`,
        HOME: process.env['HOME'],
        UPCAT_HOME: '/nonexistent',
        UPCAT_SERVER: url,
        UPCAT_PUBLISH_TOKEN: publishToken,
        UPCAT_APPROVE_TOKEN: approveToken,
      };

      // Twenty endpoints in ring1.
      const clients: Array<{ secret: string }> = [];
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${url}/v1/clients`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(registration({ hardwareId: `hw-ci-${i}`, group: 'ring1' })),
        });
        t.is(res.status, 201);
        clients.push((await res.json()) as { secret: string });
      }

      let started = Date.now();
      const release = await runScript(RELEASE, ['5.0.1', 'build'], runner, ci);
      t.log(`release.sh: ${Date.now() - started} ms`);
      t.is(release.code, 0, release.stderr);
      const published = JSON.parse(
        await readFile(path.join(runner, 'upcat-release/published.json'), 'utf8'),
      ) as { updateId: string; revision: number; sha256: string };
      const id = published.updateId;
      t.deepEqual(release.stdout.trimEnd().split('\n'), [
        `signed and verified: updates/${id}.xml, payloads/${published.sha256} (1 CMS signatures checked)`,
        `approved ${id} for install to "ring1" (catalog version ${await site.catalog.catalogVersion()})`,
        `released update ${id} revision 1 to ring1`,
      ]);
      // Progress lines in the CI log (stderr is not a terminal), though publish ran with --json.
      t.deepEqual(
        release.stderr.trimEnd().split('\n'),
        [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((p) => `uploading ${p}%`),
      );
      t.is(await readFile(path.join(runner, 'package.json'), 'utf8'), projectPackage);
      t.is(await readFile(path.join(runner, 'upcat-release/update-id.txt'), 'utf8'), `${id}\n`);
      t.like(JSON.parse(await readFile(path.join(runner, 'upcat-release/package.json'), 'utf8')), {
        path: path.join(runner, 'upcat-release/contoso-client-5.0.1.zip'),
        fileCount: 3,
        sha256: published.sha256,
      });

      // The endpoints install and report: 18 installed, 2 failed is 90%, below 95.
      const report = async (client: { secret: string }, n: number, state: string) => {
        const res = await fetch(`${url}/v1/status`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${client.secret}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({
            messages: [{ id: `ci-${n}`, topic: 'update', updateId: id, revision: 1, state }],
          }),
        });
        t.is(res.status, 202);
      };
      for (const [i, c] of clients.entries()) await report(c, i, i < 2 ? 'failed' : 'installed');
      const early = await runScript(PROMOTE, [id], runner, ci);
      t.is(early.code, 2);
      t.is(early.stdout, '');
      t.regex(
        early.stderr,
        /^upcat: http:\/\/127\.0\.0\.1:\d+: ring1: 90\.0% installed \(18 of 20 reporting\), below --min-success 95\n$/,
      );
      t.false((await site.deployments.list()).some((d) => d.group === 'ring2'));

      // One retry succeeds: 19 of 20 is 95%.
      await report(clients[0] ?? { secret: '' }, 100, 'installed');
      started = Date.now();
      const promoted = await runScript(PROMOTE, [id], runner, ci);
      t.log(`promote.sh: ${Date.now() - started} ms`);
      t.is(promoted.code, 0, promoted.stderr);
      t.is(
        promoted.stdout,
        `promoted ${id} from "ring1" to "ring2" for install: 95.0% installed (19 of 20 reporting) in "ring1" (catalog version ${await site.catalog.catalogVersion()})\n`,
      );
      t.like(
        (await site.deployments.list()).find((d) => d.group === 'ring2'),
        { updateId: id, action: 'install', percent: 100 },
      );

      // The targeted check fails, by name, when the catalog does not hold what was asked for.
      const verify = (args: string[]) =>
        runCli(
          ['verify', '--server', url, '--root', path.join(runner, 'trusted/1.root.json'), ...args],
          ci,
        );
      const wrongRevision = await verify(['--update', id, '--revision', '2']);
      t.is(wrongRevision.code, 2);
      t.is(
        wrongRevision.stdout,
        `problem: updates/${id}.xml: the signed catalog has revision 1, not 2\n`,
      );
      const absent = '0'.repeat(64);
      const missing = await verify(['--target', `payloads/${absent}`, '--json']);
      t.is(missing.code, 2);
      t.like(JSON.parse(missing.stdout), {
        ok: false,
        checked: [],
        problems: [`payloads/${absent}: not in the signed catalog`],
      });
      const unknown = await verify(['--update', '00000000-0000-0000-0000-000000000001']);
      t.is(unknown.code, 2);
      t.regex(
        unknown.stdout,
        /^problem: updates\/0{8}-0{4}-0{4}-0{4}-0{11}1\.xml: not in the signed catalog\n$/,
      );
      const bad = await verify(['--target', 'payloads/../x']);
      t.is(bad.code, 2);
      t.is(
        bad.stderr,
        'upcat: --target: "payloads/../x" is not a target name (payloads/<sha256> or updates/<id>.xml)\n',
      );
    } finally {
      await stop();
    }
  },
);
