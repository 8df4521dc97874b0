import { execFile } from 'node:child_process';
import { chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A PostgreSQL cluster of the test's own, in a temporary directory on a free port: a test may
 * stop and start it at will, which it must never do to the shared server on 5432 that other
 * tests use at the same time. initdb refuses to run as root, so the cluster belongs to the
 * `postgres` user and its tools run through runuser.
 */
export interface PrivateCluster {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

async function binDir(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const versions = (await readdir(root).catch(() => [] as string[])).sort(
    (a, b) => Number(b) - Number(a),
  );
  if (versions[0] === undefined) throw new Error(`no PostgreSQL server binaries under ${root}`);
  return path.join(root, versions[0], 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startPrivateCluster(): Promise<PrivateCluster> {
  const bin = await binDir();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-pg-'));
  const { uid, gid } = await userIds('postgres');
  await chown(dir, uid, gid);
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  const asPostgres = async (tool: string, args: string[]): Promise<void> => {
    try {
      await run('runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args], {
        timeout: 60_000,
      });
    } catch (err) {
      const tail = await readFile(log, 'utf8').catch(() => '');
      throw new Error(`${tool} ${args.join(' ')} failed: ${String(err)}\n${tail.slice(-2000)}`, {
        cause: err,
      });
    }
  };
  await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
  const start = (): Promise<void> =>
    asPostgres('pg_ctl', ['-D', data, '-l', log, '-o', options, '-w', '-t', '60', 'start']);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    // Fast shutdown: sessions are cut (SQLSTATE 57P01), as in a real outage or failover.
    stop: () => asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']),
    destroy: async () => {
      await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function userIds(name: string): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((l) => l.startsWith(`${name}:`));
  const fields = line?.split(':');
  if (fields?.[2] === undefined || fields[3] === undefined)
    throw new Error(`no user ${name}: the private PostgreSQL cluster needs it`);
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}
