import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UpcatError, errnoCode } from '../errors.js';
import { describeIssues } from '../validation.js';
import { configSchema, type SiteConfig } from './schema.js';

export const CONFIG_FILE = 'upcat.config.json';

/** Environment variables that override the config file, and the field each sets. */
const ENV_FIELDS: ReadonlyArray<{
  name: string;
  path: [string, string];
  type: 'string' | 'number';
}> = [
  { name: 'UPCAT_SITE_CODE', path: ['site', 'code'], type: 'string' },
  { name: 'UPCAT_SITE_NAME', path: ['site', 'name'], type: 'string' },
  { name: 'UPCAT_MODE', path: ['site', 'mode'], type: 'string' },
  { name: 'UPCAT_HOST', path: ['server', 'host'], type: 'string' },
  { name: 'UPCAT_PORT', path: ['server', 'port'], type: 'number' },
  { name: 'UPCAT_HTTPS_PORT', path: ['server', 'httpsPort'], type: 'number' },
  { name: 'UPCAT_WORKERS', path: ['server', 'workers'], type: 'number' },
  { name: 'DATABASE_URL', path: ['database', 'url'], type: 'string' },
  { name: 'UPCAT_DATABASE_SCHEMA', path: ['database', 'schema'], type: 'string' },
  { name: 'UPCAT_CATALOG_DIR', path: ['paths', 'catalog'], type: 'string' },
  { name: 'UPCAT_SIGNING_DIR', path: ['paths', 'signing'], type: 'string' },
  { name: 'UPCAT_PACKAGES_DIR', path: ['paths', 'packages'], type: 'string' },
  { name: 'UPCAT_MAX_PAYLOAD_BYTES', path: ['limits', 'maxPayloadBytes'], type: 'number' },
  { name: 'UPCAT_LOG_LEVEL', path: ['log', 'level'], type: 'string' },
];

export interface LoadOptions {
  /** Site home; default `UPCAT_HOME`, then the current directory. */
  home?: string;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and environment (command-line flags). */
  overrides?: Record<string, Record<string, unknown>>;
}

export function resolveHome(home: string | undefined, env: NodeJS.ProcessEnv): string {
  return path.resolve(home ?? env['UPCAT_HOME'] ?? process.cwd());
}

/** Reads `upcat.config.json` (optional), applies the environment, validates, resolves paths. */
export function loadConfig(options: LoadOptions = {}): SiteConfig {
  const env = options.env ?? process.env;
  const home = resolveHome(options.home, env);
  const file = path.join(home, CONFIG_FILE);
  const raw = readConfigFile(file);
  const fromEnv = new Map<string, string>();

  for (const field of ENV_FIELDS) {
    const value = env[field.name];
    if (value === undefined || value === '') continue;
    const section = sectionOf(raw, field.path[0], file);
    section[field.path[1]] = field.type === 'number' ? toNumber(value, field.name) : value;
    fromEnv.set(field.path.join('.'), field.name);
  }
  for (const [name, values] of Object.entries(options.overrides ?? {})) {
    Object.assign(sectionOf(raw, name, file), values);
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const problems = describeIssues(result.error.issues).map((line) => {
      const field = line.slice(0, line.indexOf(':'));
      const source = fromEnv.get(field);
      return source === undefined ? line : `${line} (from ${source})`;
    });
    throw new UpcatError(
      'invalid_config',
      `invalid configuration (${file}): ${problems.join('; ')}`,
    );
  }
  const config = result.data;
  const dir = (p: string): string => path.resolve(home, p);
  return {
    ...config,
    home,
    dirs: {
      catalog: dir(config.paths.catalog),
      signing: dir(config.paths.signing),
      packages: dir(config.paths.packages),
    },
  };
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return {};
    throw new UpcatError('invalid_config', `cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UpcatError('invalid_config', `${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UpcatError('invalid_config', `${file} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

function sectionOf(
  raw: Record<string, unknown>,
  name: string,
  file: string,
): Record<string, unknown> {
  const existing = raw[name];
  if (existing === undefined) {
    const created: Record<string, unknown> = {};
    raw[name] = created;
    return created;
  }
  if (typeof existing !== 'object' || existing === null || Array.isArray(existing)) {
    throw new UpcatError(
      'invalid_config',
      `invalid configuration (${file}): ${name}: must be an object`,
    );
  }
  return existing as Record<string, unknown>;
}

function toNumber(value: string, name: string): number {
  if (!/^\d+$/.test(value.trim())) {
    throw new UpcatError(
      'invalid_config',
      `invalid configuration: ${name}: "${value}" is not a whole number`,
    );
  }
  return Number(value.trim());
}
