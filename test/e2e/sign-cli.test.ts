import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makePe, tool } from '../helpers/authenticode.js';
import { runCli } from '../helpers/cli.js';
import { dbTest } from '../helpers/site.js';
import { buildPayloadMsi } from '../helpers/wixl-msi.js';

/** `upcat sign`: a CAB, a PE image and an MSI signed with the site publisher, checked by osslsigncode. */
dbTest(
  "upcat sign: CAB, PE and MSI signed with the site's publisher pass osslsigncode verify; bad input is one line and writes nothing",
  async (t, { site, env }) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-sign-cli-'));
    try {
      const ca = path.join(dir, 'ca.pem');
      await writeFile(ca, site.signing?.caCertificatePem ?? '');
      await writeFile(path.join(dir, 'readme.txt'), 'a file for the cabinet\n'.repeat(100));
      const cab = path.join(dir, 'in.cab');
      const made = await tool('sh', ['-c', `cd "${dir}" && gcab -c -z in.cab readme.txt`]);
      t.is(made.code, 0, made.stderr);
      const exe = path.join(dir, 'in.exe');
      await writeFile(exe, makePe());
      const msi = await buildPayloadMsi(path.join(dir, 'msi'), 'payload\n'.repeat(500));

      for (const [input, kind] of [
        [cab, 'cab'],
        [exe, 'pe'],
        [msi, 'msi'],
      ] as const) {
        const out = path.join(dir, `signed-${kind}`);
        const r = await runCli(['sign', input, '--out', out, '--json'], env);
        t.is(r.code, 0, r.stderr);
        const result = JSON.parse(r.stdout) as {
          kind: string;
          size: number;
          digest: string;
          publisher: string;
          thumbprint: string;
        };
        t.is(result.kind, kind);
        t.is(result.size, (await stat(out)).size);
        t.regex(result.publisher, /CN=upcat .* publisher/);
        t.regex(result.thumbprint, /^[0-9A-F]{40}$/);
        const v = await tool('osslsigncode', ['verify', '-CAfile', ca, '-in', out]);
        t.is(v.code, 0, v.stdout + v.stderr);
        t.regex(v.stdout, /Signature verification: ok/);
        t.true(v.stdout.toLowerCase().includes(result.digest), `${kind}: digest ${result.digest}`);
      }

      const human = await runCli(['sign', exe, '--out', path.join(dir, 'human.exe')], env);
      t.is(human.code, 0, human.stderr);
      t.regex(human.stdout, /^signed .*in\.exe \(pe\) into .*human\.exe, \d+ bytes\n/);

      const help = await runCli(['sign', '--help'], env);
      t.is(help.code, 0);
      t.regex(help.stdout, /--out <file>/);
      t.regex(help.stdout, /--json/);

      // Bad input: one line on stderr, exit 2, nothing written or changed.
      const text = path.join(dir, 'notes.txt');
      await writeFile(text, 'not signable');
      const truncated = path.join(dir, 'truncated.msi');
      await writeFile(truncated, (await readFile(msi)).subarray(0, 3000));
      const cases: Array<[string, string, RegExp]> = [
        [text, path.join(dir, 'o1'), /is not a cabinet, a PE image or an MSI package/],
        [path.join(dir, 'missing.exe'), path.join(dir, 'o2'), /does not exist/],
        [truncated, path.join(dir, 'o3'), /compound file/],
        [exe, path.join(dir, 'signed-pe'), /already exists/],
      ];
      for (const [input, out, message] of cases) {
        const before = await stat(out).then(
          (s) => s.mtimeMs,
          () => undefined,
        );
        const r = await runCli(['sign', input, '--out', out], env);
        t.is(r.code, 2, r.stderr);
        t.regex(r.stderr, message);
        t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
        t.is(
          await stat(out).then(
            (s) => s.mtimeMs,
            () => undefined,
          ),
          before,
        );
      }
      const missingOut = await runCli(['sign', exe], env);
      t.not(missingOut.code, 0);
      t.regex(missingOut.stderr, /--out/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
