/**
 * Issue 7 benchmark: a 1 GiB publish over HTTP (`POST /v1/updates` in the raw body form, with
 * `curl -T` as the client, as `upcat publish --server` sends it) into `upcat serve` on loopback,
 * against nginx receiving the same file from the same `curl -T` in the same run. The multipart
 * form (`curl -F`) is measured too, as a second figure. Target: upcat's rate at least 0.8 of
 * nginx's, and the serve process's peak RSS (VmHWM in /proc/<pid>/status) under 200 MB.
 *
 * The reference is nginx (Debian's nginx-light, installed with apt-get when absent; 1 worker)
 * receiving the bytes and writing them to disk: a WebDAV PUT (`dav_methods PUT`), which nginx
 * spools to a temporary file in `client_body_temp_path` and renames into place, answering only
 * once the whole body is stored. That is the same work as upcat's receive-to-staging-then-rename,
 * minus what upcat adds: SHA-256 and SHA-1 of every byte, fsync, the database transaction and
 * TUF signing (and, in the multipart form, the boundary scan). nginx does not fsync. A `return 201` location was not used: nginx
 * would answer before reading the body and curl would stop sending, so nothing would be measured.
 *
 * Size: BENCH_UPLOAD_MIB (default 1024). Rounds: BENCH_RUNS (default 3), interleaved, medians
 * reported. Each upcat round publishes a new version (same bytes), so every round is a full publish.
 * Run: npm run build && node --import tsx bench/upload-1gib.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchResult } from './types.js';
import { CLI, ROOT, freePort, median, timed, waitForHttp, workDir } from './util.js';

const MIB = Number(process.env['BENCH_UPLOAD_MIB'] ?? 1024);
const SIZE = MIB * 1024 * 1024;
const ROUNDS = Number(process.env['BENCH_RUNS'] ?? 3);
const TARGET_RATIO = 0.8;
const TARGET_RSS_MB = 200;

export async function run(): Promise<BenchResult> {
  await ensureNginx();
  await timed('npm', ['run', 'build'], { env: process.env });
  const dir = await workDir('upload');
  const file = path.join(dir, 'payload.bin');
  await ensureFile(file, SIZE);
  const home = path.join(dir, 'site');
  await rm(home, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = { ...process.env, UPCAT_HOME: home, DATABASE_URL: '' };
  await timed(process.execPath, [CLI, 'init'], { env });
  const created = await timed(
    process.execPath,
    [CLI, 'token', 'create', '--scope', 'publish', '--name', 'bench', '--json'],
    { env },
  );
  const token = (JSON.parse(created.stdout) as { token: string }).token;

  const children: ChildProcess[] = [];
  try {
    const upcat = await startUpcat(children, env);
    const nginx = await startNginx(children, dir);
    // Warm the page cache for both alike.
    await timed('sh', ['-c', 'cat "$0" > /dev/null', file]);
    const upcatRates: number[] = [];
    const formRates: number[] = [];
    const nginxRates: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      nginxRates.push(await putToNginx(nginx.url, file));
      await rm(path.join(nginx.root, 'payload.bin'), { force: true });
      upcatRates.push(await postRawToUpcat(upcat.url, token, dir, file, round));
      formRates.push(await postFormToUpcat(upcat.url, token, dir, file, round));
      process.stderr.write(
        `upload-1gib: round ${round + 1}: upcat ${mbps(upcatRates.at(-1))} MB/s (multipart ${mbps(formRates.at(-1))}), nginx ${mbps(nginxRates.at(-1))} MB/s\n`,
      );
    }
    const rssMb = await peakRssMb(upcat.pid);
    const ours = median(upcatRates);
    const theirs = median(nginxRates);
    const ratio = ours / theirs;
    return {
      name: `publish ${MIB} MiB over HTTP (POST /v1/updates raw body, curl -T, loopback, embedded SQLite)`,
      reference: 'nginx 1 worker receiving the same file from curl -T into a file (WebDAV PUT)',
      figures: {
        'upcat MB/s (median)': mbps(ours),
        'nginx MB/s (median)': mbps(theirs),
        'upcat multipart (curl -F) MB/s (median)': mbps(median(formRates)),
        'multipart ratio': Math.round((median(formRates) / theirs) * 100) / 100,
        'upcat serve peak RSS MB (VmHWM)': Math.round(rssMb),
        'upcat MB/s (all)': upcatRates.map(mbps).join(' '),
        'upcat multipart MB/s (all)': formRates.map(mbps).join(' '),
        'nginx MB/s (all)': nginxRates.map(mbps).join(' '),
        rounds: ROUNDS,
      },
      ratio: Math.round(ratio * 100) / 100,
      target: `upcat >= ${TARGET_RATIO} x nginx's rate, serve peak RSS < ${TARGET_RSS_MB} MB`,
      met: ratio >= TARGET_RATIO && rssMb < TARGET_RSS_MB,
    };
  } finally {
    await stopAll(children);
  }
}

/** A new version each round (same bytes), so that every round is a full publish. */
async function writeManifest(dir: string, version: string): Promise<string> {
  const manifest = path.join(dir, 'manifest.json');
  await writeFile(
    manifest,
    JSON.stringify({
      title: `Bench payload ${version}`,
      product: 'Bench',
      classification: 'Updates',
      version,
      handler: { type: 'commandLine', program: 'payload.bin' },
    }),
  );
  return manifest;
}

/**
 * Bytes per second of one publish by curl in the raw body form (`curl -T`, as nginx gets, and
 * what `upcat publish --server` sends); fails unless it answered 201.
 */
async function postRawToUpcat(
  url: string,
  token: string,
  dir: string,
  file: string,
  round: number,
): Promise<number> {
  const manifest = await readFile(await writeManifest(dir, `1.${round}`));
  const out = await timed('curl', [
    '-sS',
    '-o',
    path.join(dir, 'answer.json'),
    '-w',
    '%{http_code} %{time_total}',
    '-X',
    'POST',
    '-T',
    file,
    '-H',
    `Authorization: Bearer ${token}`,
    '-H',
    'Content-Type: application/octet-stream',
    '-H',
    `Upcat-Manifest: ${manifest.toString('base64')}`,
    `${url}/v1/updates?fileName=payload.bin`,
  ]);
  return rateOf(out.stdout, '201', await readFile(path.join(dir, 'answer.json'), 'utf8'));
}

/** The same as a multipart form (`curl -F`): the form that any HTTP client can send. */
async function postFormToUpcat(
  url: string,
  token: string,
  dir: string,
  file: string,
  round: number,
): Promise<number> {
  const manifest = await writeManifest(dir, `2.${round}`);
  const out = await timed('curl', [
    '-sS',
    '-o',
    path.join(dir, 'answer.json'),
    '-w',
    '%{http_code} %{time_total}',
    '-H',
    `Authorization: Bearer ${token}`,
    '-F',
    `manifest=<${manifest};type=application/json`,
    '-F',
    `payload=@${file};type=application/octet-stream`,
    `${url}/v1/updates`,
  ]);
  return rateOf(out.stdout, '201', await readFile(path.join(dir, 'answer.json'), 'utf8'));
}

async function putToNginx(url: string, file: string): Promise<number> {
  const out = await timed('curl', [
    '-sS',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{time_total}',
    '-T',
    file,
    `${url}/upload/payload.bin`,
  ]);
  return rateOf(out.stdout, '201', '');
}

function rateOf(written: string, expected: string, body: string): number {
  const [code, seconds] = written.trim().split(' ');
  if (code !== expected) throw new Error(`upload answered ${code}, not ${expected}: ${body}`);
  return SIZE / Number(seconds);
}

async function startUpcat(
  children: ChildProcess[],
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; pid: number }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1'],
    { env, cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`);
  if (child.pid === undefined) throw new Error('upcat serve did not start');
  return { url, pid: child.pid };
}

/** An unprivileged nginx with its own prefix under bench/.work/, in the foreground. */
async function startNginx(
  children: ChildProcess[],
  dir: string,
): Promise<{ url: string; root: string }> {
  const prefix = path.join(dir, 'nginx');
  await rm(prefix, { recursive: true, force: true });
  const root = path.join(prefix, 'root', 'upload');
  await mkdir(root, { recursive: true });
  // When the bench runs as root, nginx's workers run as an unprivileged user: let them write here.
  await chmod(root, 0o777);
  await mkdir(path.join(prefix, 'logs'), { recursive: true });
  const tmp = path.join(prefix, 'tmp');
  await mkdir(tmp, { recursive: true });
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  await writeFile(
    conf,
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${path.join(prefix, 'nginx.pid')};`,
      `error_log ${path.join(prefix, 'logs', 'error.log')} warn;`,
      'events { worker_connections 64; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
        (k) => `  ${k}_temp_path ${path.join(tmp, k)};`,
      ),
      '  server {',
      `    listen 127.0.0.1:${port};`,
      `    root ${path.join(prefix, 'root')};`,
      '    location /upload/ {',
      '      dav_methods PUT;',
      '      create_full_put_path on;',
      '      client_max_body_size 2g;',
      '      client_body_buffer_size 1m;',
      '    }',
      '    location = /healthz { return 200 "ok"; }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn('nginx', ['-c', conf, '-p', prefix], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`);
  return { url, root };
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

/** The process's peak resident set since it started (kernel's high-water mark), in MB. */
async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (kb === null) throw new Error(`no VmHWM for process ${pid}`);
  return Number(kb[1]) / 1024;
}

async function ensureNginx(): Promise<void> {
  for (const d of ['/usr/sbin', '/usr/bin', ...(process.env['PATH'] ?? '').split(':')]) {
    if (d !== '' && (await stat(path.join(d, 'nginx')).catch(() => undefined))?.isFile() === true)
      return;
  }
  process.stderr.write('upload-1gib: installing nginx-light\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await timed('apt-get', ['install', '-y', 'nginx-light'], { env });
  } catch {
    await timed('apt-get', ['update'], { env });
    await timed('apt-get', ['install', '-y', 'nginx-light'], { env });
  }
}

async function ensureFile(file: string, size: number): Promise<void> {
  const existing = await stat(file).catch(() => undefined);
  if (existing?.size === size) return;
  const fh = await open(file, 'w');
  const chunk = 8 * 1024 * 1024;
  for (let done = 0; done < size; done += chunk)
    await fh.write(randomBytes(Math.min(chunk, size - done)));
  await fh.close();
}

function mbps(bytesPerSecond: number | undefined): number {
  return Math.round(((bytesPerSecond ?? 0) / 1e6) * 10) / 10;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await run(), null, 2));
}
