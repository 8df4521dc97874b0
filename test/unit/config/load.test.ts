import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadConfig } from '../../../src/config/load.js';
import { UpcatError } from '../../../src/errors.js';

const home = (): Promise<string> => mkdtemp(path.join(os.tmpdir(), 'upcat-config-'));

test('defaults: embedded SQLite, port 8530, data roots under the home', async (t) => {
  const dir = await home();
  const config = loadConfig({ home: dir, env: {} });
  t.is(config.server.port, 8530);
  t.is(config.server.httpsPort, 8531);
  t.is(config.site.mode, 'mixed');
  t.is(config.database.url, undefined);
  t.deepEqual(config.dirs, {
    catalog: path.join(dir, 'catalog'),
    signing: path.join(dir, 'signing'),
    packages: path.join(dir, 'packages'),
  });
});

test('the home comes from UPCAT_HOME when not given', async (t) => {
  const dir = await home();
  t.is(loadConfig({ env: { UPCAT_HOME: dir } }).home, dir);
});

test('file values apply, and the environment wins over the file', async (t) => {
  const dir = await home();
  await writeFile(
    path.join(dir, 'upcat.config.json'),
    JSON.stringify({
      site: { code: 'ABC' },
      server: { port: 9000 },
      paths: { packages: '/srv/pool' },
    }),
  );
  const fromFile = loadConfig({ home: dir, env: {} });
  t.is(fromFile.site.code, 'ABC');
  t.is(fromFile.server.port, 9000);
  t.is(fromFile.dirs.packages, '/srv/pool');
  const fromEnv = loadConfig({
    home: dir,
    env: { UPCAT_PORT: '9100', DATABASE_URL: 'postgres://db/x', UPCAT_SITE_CODE: 'XYZ' },
  });
  t.is(fromEnv.server.port, 9100);
  t.is(fromEnv.database.url, 'postgres://db/x');
  t.is(fromEnv.site.code, 'XYZ');
});

test('errors name the field, and the environment variable when it was the source', async (t) => {
  const dir = await home();
  await writeFile(
    path.join(dir, 'upcat.config.json'),
    JSON.stringify({ server: { port: 70000, colour: 1 } }),
  );
  const fileErr = t.throws(() => loadConfig({ home: dir, env: {} }), { instanceOf: UpcatError });
  t.is(fileErr?.code, 'invalid_config');
  t.regex(fileErr?.message ?? '', /server\.port: /);
  t.regex(fileErr?.message ?? '', /server\.colour: unknown field/);

  await writeFile(path.join(dir, 'upcat.config.json'), '{}');
  const envErr = t.throws(() => loadConfig({ home: dir, env: { UPCAT_SITE_CODE: 'toolong' } }));
  t.regex(
    envErr?.message ?? '',
    /site\.code: must be three upper-case letters or digits \(from UPCAT_SITE_CODE\)/,
  );
  const numErr = t.throws(() => loadConfig({ home: dir, env: { UPCAT_PORT: '80a' } }));
  t.regex(numErr?.message ?? '', /UPCAT_PORT: "80a" is not a whole number/);
});

test('a config file that is not JSON, or not an object, is named', async (t) => {
  const dir = await home();
  await writeFile(path.join(dir, 'upcat.config.json'), '{ nope');
  t.throws(() => loadConfig({ home: dir, env: {} }), {
    message: /upcat\.config\.json is not valid JSON/,
  });
  await writeFile(path.join(dir, 'upcat.config.json'), '[1]');
  t.throws(() => loadConfig({ home: dir, env: {} }), { message: /must hold a JSON object/ });
});
