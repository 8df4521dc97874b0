/**
 * The agent's read of upcat's Group Policy (HKLM\Software\Policies\upcat) against recorded
 * reg.exe output (Windows 10 22H2 x64, the values `upcat gpo export` and the ADMX write): it
 * cannot run here, so the runner answers as reg.exe did.
 */
import test from 'ava';
import type { AgentConfig } from '../../../src/agent/config.js';
import type { CommandResult, CommandRunner } from '../../../src/agent/inventory/index.js';
import { discoverSite } from '../../../src/agent/discovery.js';
import { resolveProperties } from '../../../src/agent/properties.js';
import {
  checkAssignment,
  readWindowsPolicy,
  withWindowsPolicy,
} from '../../../src/agent/windows-policy.js';
import { UpcatError } from '../../../src/errors.js';

const ok = (stdout: string): CommandResult => ({ exitCode: 0, stdout, stderr: '' });
const NOT_FOUND: CommandResult = {
  exitCode: 1,
  stdout: '',
  stderr: 'ERROR: The system was unable to find the specified registry key or value.\r\n',
};

const RECORDED: Record<string, string> = {
  'HKLM\\Software\\Policies\\upcat':
    '\r\nHKEY_LOCAL_MACHINE\\Software\\Policies\\upcat\r\n    SiteCode    REG_SZ    upc\r\n    ServerUrl    REG_SZ    http://upcat.example.com:8530\r\n    FallbackStatusPoint    REG_SZ    http://fsp.example.com:8530\r\n\r\nHKEY_LOCAL_MACHINE\\Software\\Policies\\upcat\\InstallationProperties\r\n',
  'HKLM\\Software\\Policies\\upcat\\InstallationProperties':
    '\r\nHKEY_LOCAL_MACHINE\\Software\\Policies\\upcat\\InstallationProperties\r\n    (Default)    REG_SZ    (value not set)\r\n    installDir    REG_SZ    C:\\Program Files\\upcat\r\n    ring    REG_SZ    2\r\n',
};

function recorder(
  answers: Record<string, string | CommandResult>,
  calls: string[] = [],
): CommandRunner {
  return async (program, args) => {
    calls.push(`${program} ${args.join(' ')}`);
    if (program !== 'reg') return { exitCode: 127, stdout: '', stderr: 'not found' };
    const a = answers[args[1] ?? ''];
    return a === undefined ? NOT_FOUND : typeof a === 'string' ? ok(a) : a;
  };
}

test('reads site assignment, fallback status point and installation properties', async (t) => {
  const calls: string[] = [];
  const policy = await readWindowsPolicy(recorder(RECORDED, calls));
  t.deepEqual(calls, [
    'reg query HKLM\\Software\\Policies\\upcat /reg:64',
    'reg query HKLM\\Software\\Policies\\upcat\\InstallationProperties /reg:64',
  ]);
  t.deepEqual(policy, {
    siteCode: 'UPC', // site codes compare without case, as Configuration Manager's do
    server: 'http://upcat.example.com:8530',
    fallbackStatusPoint: 'http://fsp.example.com:8530',
    properties: { installDir: 'C:\\Program Files\\upcat', ring: '2' },
    warnings: [],
  });
});

test('no policy key is no policy; a reg.exe that fails is a warning, not silence', async (t) => {
  t.deepEqual(await readWindowsPolicy(recorder({})), { properties: {}, warnings: [] });
  // reg.exe answers in the system's language: exit 1 alone means "no such key".
  const german = await readWindowsPolicy(
    recorder({
      'HKLM\\Software\\Policies\\upcat': {
        exitCode: 1,
        stdout: '',
        stderr:
          'FEHLER: Der angegebene Registrierungsschlüssel bzw. Wert wurde nicht gefunden.\r\n',
      },
    }),
  );
  t.deepEqual(german, { properties: {}, warnings: [] });
  const broken = await readWindowsPolicy(async () => ({
    exitCode: 127,
    stdout: '',
    stderr: 'spawn reg ENOENT',
  }));
  t.deepEqual(broken.properties, {});
  t.deepEqual(broken.warnings, [
    'Group Policy HKLM\\Software\\Policies\\upcat not read: reg query exited 127: spawn reg ENOENT',
    'Group Policy HKLM\\Software\\Policies\\upcat\\InstallationProperties not read: reg query exited 127: spawn reg ENOENT',
  ]);
  // An enabled policy whose field was left empty sets nothing.
  const empty = await readWindowsPolicy(
    recorder({
      'HKLM\\Software\\Policies\\upcat':
        '\r\nHKEY_LOCAL_MACHINE\\Software\\Policies\\upcat\r\n    ServerUrl    REG_SZ    \r\n',
    }),
  );
  t.deepEqual(empty, { properties: {}, warnings: [] });
});

test('a malformed policy value is an error naming it', async (t) => {
  const bad = async (
    line: string,
    key = 'HKLM\\Software\\Policies\\upcat',
  ): Promise<UpcatError> => {
    const err = await t.throwsAsync(
      readWindowsPolicy(
        recorder({ [key]: `\r\nHKEY_LOCAL_MACHINE\\${key.slice(5)}\r\n${line}\r\n` }),
      ),
      { instanceOf: UpcatError },
    );
    t.is(err?.code, 'invalid_config');
    return err as UpcatError;
  };
  t.regex(
    (await bad('    SiteCode    REG_SZ    ABCD')).message,
    /Policies\\upcat SiteCode: "ABCD" is not a three-character site code/,
  );
  t.regex(
    (await bad('    ServerUrl    REG_SZ    ftp://x')).message,
    /ServerUrl: "ftp:\/\/x" is not an http or https URL/,
  );
  t.regex(
    (await bad('    ServerUrl    REG_DWORD    0x1')).message,
    /ServerUrl: is REG_DWORD, not REG_SZ/,
  );
  t.regex(
    (
      await bad(
        '    1bad    REG_SZ    x',
        'HKLM\\Software\\Policies\\upcat\\InstallationProperties',
      )
    ).message,
    /InstallationProperties 1bad: is not an installation property name/,
  );
});

test('precedence: command line, then policy, then agent.json, then the site', async (t) => {
  const agentJson: AgentConfig = {
    server: 'http://from-agent-json:8530',
    siteCode: 'AAA',
    fallbackStatusPoint: 'http://fsp-agent-json:8530',
    properties: { installDir: 'D:\\agent-json', fromJson: 'j', ring: 'json' },
  };
  const policy = await readWindowsPolicy(recorder(RECORDED));
  const config = withWindowsPolicy(agentJson, policy);
  t.is(config.server, 'http://from-agent-json:8530'); // discovery ranks the policy's (below)
  t.is(config.siteCode, 'UPC');
  t.is(config.fallbackStatusPoint, 'http://fsp.example.com:8530');
  const properties = resolveProperties({ ring: 'cli' }, config.properties, {
    installDir: 'site',
    fromSite: 's',
    fromJson: 'site',
  });
  t.deepEqual(properties, {
    installDir: 'C:\\Program Files\\upcat', // policy beats agent.json and the site
    ring: 'cli', // the command line beats the policy
    fromJson: 'j', // agent.json beats the site
    fromSite: 's',
  });
  // No policy: agent.json stands.
  t.deepEqual(withWindowsPolicy(agentJson, { properties: {}, warnings: [] }), agentJson);
});

test('site assignment refuses a site with another code', (t) => {
  t.notThrows(() => checkAssignment({ siteCode: 'UPC' }, 'UPC'));
  t.notThrows(() => checkAssignment({ siteCode: 'UPC' }, undefined));
  const err = t.throws(() => checkAssignment({ siteCode: 'XYZ' }, 'UPC'), {
    instanceOf: UpcatError,
  });
  t.is(err?.code, 'incompatible_site');
  t.regex(err?.message ?? '', /assigned to site UPC .* the site found is XYZ/);
});

test('discovery: the command line, then the policy ServerUrl, then agent.json', async (t) => {
  const base = { env: { UPCAT_SERVER: 'http://env:8530' }, provisioned: 'http://json:8530' };
  t.like(await discoverSite({ ...base, flag: 'http://flag:8530', policy: 'http://gpo:8530/' }), {
    url: 'http://flag:8530',
    source: 'command line',
  });
  t.deepEqual(await discoverSite({ ...base, policy: 'http://gpo:8530/' }), {
    url: 'http://gpo:8530',
    source: 'group policy',
    candidates: ['http://gpo:8530'],
  });
  t.like(await discoverSite(base), { url: 'http://json:8530', source: 'agent.json' });
});
