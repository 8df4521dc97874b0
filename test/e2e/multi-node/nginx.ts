import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

/**
 * Debian's nginx as the load balancer in front of several `upcat serve` nodes (issue 15 item
 * 4), run by the test as the current user: its config, pid, logs and temporary files all live
 * in `dir`, so it touches nothing of the system's nginx. Round robin over the upstream ports; a
 * node that refuses connections (killed) is passed over, but a request already sent to a node
 * that dies is not replayed (nginx never retries a POST it has sent), as with a real balancer.
 */
export interface Balancer {
  url: string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function nginxConfig(dir: string, port: number, upstreams: readonly number[]): string {
  const temp = (name: string): string => path.join(dir, 'temp', name);
  // Running as root, nginx would switch its workers to `nobody`, who cannot write `dir`.
  const user = process.getuid?.() === 0 ? 'user root root;' : '';
  return `${user}
worker_processes 1;
daemon off;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 2048; }
http {
  access_log off;
  client_body_temp_path ${temp('body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  upstream upcat {
${upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=1s;`).join('\n')}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    proxy_request_buffering off;
    location / {
      proxy_pass http://upcat;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_next_upstream error timeout http_502;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 2s;
    }
  }
}
`;
}

/** Starts nginx on a free port in front of `upstreams`; resolves once it accepts connections. */
export async function startNginx(dir: string, upstreams: readonly number[]): Promise<Balancer> {
  await mkdir(path.join(dir, 'temp'), { recursive: true });
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(conf, nginxConfig(dir, port, upstreams));
  const child: ChildProcess = spawn(
    'nginx',
    ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')],
    {
      stdio: 'ignore',
      env: { ...process.env, PATH: `${process.env['PATH'] ?? ''}:/usr/sbin` },
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; ; i++) {
    if (await accepts(port)) break;
    if (child.exitCode !== null || i > 200) {
      const log = await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
      child.kill('SIGKILL');
      throw new Error(`nginx did not start: ${log.slice(-1000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGQUIT');
      await exited;
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
