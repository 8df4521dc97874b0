/**
 * wrk, the load generator the HTTP benchmarks drive from a second process: installed on first use
 * (Debian's package), run with a Lua script whose `done` prints one `WRK_JSON {...}` line
 * (requests, duration, p50/p99 and answers by status), and its figures read back.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface WrkFigures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Answers by HTTP status, as the Lua script counted them. */
  statuses: Record<string, number>;
  socketErrors: number;
}

export function ensureWrk(): void {
  try {
    execFileSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' });
  } catch {
    execFileSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'inherit' });
  }
}

export function runWrk(
  script: string,
  url: string,
  seconds: number,
  load: { threads: number; connections: number },
  /**
   * A file the script writes when its work is done: wrk is then interrupted (SIGINT, which makes
   * it print its summary) instead of running out its duration (a stopped thread does not end it).
   */
  doneFile?: string,
): Promise<WrkFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', [
      `-t${load.threads}`,
      `-c${load.connections}`,
      `-d${seconds}s`,
      '--timeout',
      '5s',
      '-s',
      script,
      url,
    ]);
    let out = '';
    if (doneFile !== undefined) {
      const poll = setInterval(() => {
        if (existsSync(doneFile)) {
          clearInterval(poll);
          child.kill('SIGINT');
        }
      }, 20);
      child.on('close', () => clearInterval(poll));
    }
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /WRK_JSON (\{.*\})/.exec(out);
      if (code !== 0 || m?.[1] === undefined)
        return reject(new Error(`wrk exited ${code}: ${out}`));
      const j = JSON.parse(m[1]) as {
        requests: number;
        duration_us: number;
        p50_us: number;
        p99_us: number;
        socket_errors: number;
        statuses: Record<string, number>;
      };
      resolve({
        rps: j.requests / (j.duration_us / 1e6),
        p50Ms: Math.round(j.p50_us / 100) / 10,
        p99Ms: Math.round(j.p99_us / 100) / 10,
        requests: j.requests,
        statuses: j.statuses,
        socketErrors: j.socket_errors,
      });
    });
  });
}

/** Every answer had this status and no socket failed. */
export function onlyStatus(f: WrkFigures, status: string): boolean {
  return Object.keys(f.statuses).every((k) => k === status) && f.socketErrors === 0;
}

/**
 * The Lua every counting script starts with: answers counted by status per thread, and `done`
 * printing the `WRK_JSON {...}` line runWrk reads. A script adds its own `request` (and `init`).
 */
export const COUNTING_LUA = `
counts = {}
function response(status, headers, body)
  local k = tostring(status)
  counts[k] = (counts[k] or 0) + 1
end
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do all[k] = (all[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(all) do table.insert(parts, string.format('"%s":%d', k, v)) end
  io.write(string.format('WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"socket_errors":%d,"statuses":{%s}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ",")))
end
`;

/**
 * A counting script whose every request is the next client's sync with its anchor, from a file
 * of `secret anchor hardwareId` lines (bench/site-sync.ts writes it); threads start at
 * different points of the rotation.
 */
export function syncLua(clientsFile: string): string {
  return `${COUNTING_LUA}
local secrets, anchors, hardware = {}, {}, {}
local i = 0
function init(args)
  for line in io.lines("${clientsFile}") do
    local s, a, h = line:match("^(%S+) (%S+) (%S+)$")
    if s then table.insert(secrets, s); table.insert(anchors, a); table.insert(hardware, h) end
  end
  i = (tid or 0) * 7919
end
function request()
  i = i % #secrets + 1
  return wrk.format("GET", "/v1/sync?anchor=" .. anchors[i], { ["Authorization"] = "Bearer " .. secrets[i], ["Upcat-Hardware-Id"] = hardware[i] })
end
`;
}

/** A counting script registering fresh hardware IDs (`<tag>-<thread>-<time>-<n>`) in a loop. */
export function registerLua(tag: string): string {
  return `${COUNTING_LUA}
local n = 0
local prefix = ""
function init(args)
  prefix = string.format("${tag}-%d-%d-", tid or 0, os.time())
end
function request()
  n = n + 1
  local body = string.format('{"hardwareId":"%s%d","name":"pc-%d","os":"linux","architecture":"x64","clientVersion":"1.0.0"}', prefix, n, n)
  return wrk.format("POST", "/v1/clients", { ["Content-Type"] = "application/json" }, body)
end
`;
}
