/**
 * The request messages of [MS-WUSP] section 4, replayed against a real server (issue 12 item 8):
 * first as written, whose 2006 cookies a server that checks cookies must refuse, then with live
 * cookies and LastChange in their place. Every answer is checked to be the right element and
 * validated with xmllint against the section 6 schemas (test/fixtures/wusp/*.xsd).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import { publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import {
  NS,
  pick,
  readSoap,
  WuaSimulator,
  type SoapResult,
  type Service,
  serve,
  windowsManifest,
  deployToAll,
} from '../helpers/wua-simulator.js';

const run = promisify(execFile);
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'wusp');
const SCHEMA: Record<Service, string> = {
  client: 'client.xsd',
  simpleAuth: 'simple-auth.xsd',
  reporting: 'reporting.xsd',
};
const PATH: Record<Service, string> = {
  client: '/ClientWebService/client.asmx',
  simpleAuth: '/SimpleAuthWebService/SimpleAuth.asmx',
  reporting: '/ReportingWebService/ReportingWebService.asmx',
};

interface Sample {
  file: string;
  service: Service;
  op: string;
  /** The fault the sample as written gets, or undefined when it succeeds as written. */
  asWritten: string | undefined;
}

const SAMPLES: Sample[] = [
  { file: '01-GetConfig.xml', service: 'client', op: 'GetConfig', asWritten: undefined },
  {
    file: '02-GetAuthorizationCookie.xml',
    service: 'simpleAuth',
    op: 'GetAuthorizationCookie',
    asWritten: undefined,
  },
  {
    file: '03-GetCookie.xml',
    service: 'client',
    op: 'GetCookie',
    asWritten: 'InvalidAuthorizationCookie',
  },
  {
    file: '04-RegisterComputer.xml',
    service: 'client',
    op: 'RegisterComputer',
    asWritten: 'InvalidCookie',
  },
  {
    file: '07-SyncUpdates-first.xml',
    service: 'client',
    op: 'SyncUpdates',
    asWritten: 'InvalidCookie',
  },
  {
    file: '08-SyncUpdates-second.xml',
    service: 'client',
    op: 'SyncUpdates',
    asWritten: 'InvalidCookie',
  },
  {
    file: '05-RefreshCache.xml',
    service: 'client',
    op: 'RefreshCache',
    asWritten: 'InvalidCookie',
  },
  {
    file: '06-GetFileLocations.xml',
    service: 'client',
    op: 'GetFileLocations',
    asWritten: 'InvalidCookie',
  },
  {
    file: '09-ReportEventBatch-148.xml',
    service: 'reporting',
    op: 'ReportEventBatch',
    asWritten: 'InvalidCookie',
  },
];

async function post(url: string, sample: Sample, body: string): Promise<SoapResult> {
  const res = await fetch(`${url}${PATH[sample.service]}`, {
    method: 'POST',
    headers: {
      'Content-Type': 'text/xml; charset=utf-8',
      SOAPAction: `"${NS[sample.service]}/${sample.op}"`,
    },
    body,
  });
  return readSoap(res);
}

/** xmllint --schema on the answer: the response element alone, or the whole fault envelope. */
async function validate(t: ExecutionContext, answer: SoapResult, service: Service): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wusp-xsd-'));
  try {
    const fault = answer.fault !== undefined;
    const inner = /<soap:Body>([\s\S]*)<\/soap:Body>/.exec(answer.text)?.[1] ?? '';
    const file = path.join(dir, 'answer.xml');
    await writeFile(file, fault ? answer.text : `<?xml version="1.0" encoding="utf-8"?>${inner}`);
    const schema = path.join(FIXTURES, fault ? 'soap-fault.xsd' : SCHEMA[service]);
    const result = await run('xmllint', ['--noout', '--schema', schema, file]).then(
      (r) => ({ ok: true, out: r.stderr }),
      (err: { stderr?: string }) => ({ ok: false, out: err.stderr ?? '' }),
    );
    t.true(result.ok, `xmllint: ${result.out}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function setCookie(
  xml: string,
  element: string,
  cookie: { expiration: string; data: string },
): string {
  return xml.replace(
    new RegExp(
      `<${element}>\\s*<Expiration>[^<]*</Expiration>\\s*<EncryptedData>[^<]*</EncryptedData>\\s*</${element}>`,
    ),
    `<${element}><Expiration>${cookie.expiration}</Expiration><EncryptedData>${cookie.data}</EncryptedData></${element}>`,
  );
}

dbTest(
  'the section 4 requests as written: 2006 cookies refused with the specified faults, answers valid',
  async (t, { site }) => {
    const server = await serve(site);
    try {
      for (const sample of SAMPLES) {
        const body = await readFile(path.join(FIXTURES, 'section4', sample.file), 'utf8');
        const answer = await post(server.url, sample, body);
        t.is(answer.contentType, 'text/xml; charset=utf-8');
        if (sample.asWritten === undefined) {
          t.is(answer.status, 200, sample.file);
          t.is(answer.body.local, `${sample.op}Response`);
          t.is(answer.body.uri, NS[sample.service]);
        } else {
          t.is(answer.status, 500, `${sample.file}: a fault is sent with HTTP 500`);
          t.is(answer.fault?.errorCode, sample.asWritten, sample.file);
          t.is(pick(answer.body, 'faultcode')?.text, 'soap:Client');
          t.is(pick(answer.body, 'detail', 'Method')?.text, `"${NS[sample.service]}/${sample.op}"`);
        }
        await validate(t, answer, sample.service);
      }
    } finally {
      await server.close();
    }
  },
);

dbTest(
  'the section 4 requests with live cookies: each answer is the operation response and valid',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const published = await publishBytes(
      site,
      Buffer.from('MZ sample'),
      windowsManifest(),
      'setup.exe',
    );
    await deployToAll(site, published.updateId);
    const server = await serve(site);
    try {
      const read = (f: string) => readFile(path.join(FIXTURES, 'section4', f), 'utf8');
      const byFile = (f: string) => SAMPLES.find((s) => s.file === f) as Sample;
      const config = await post(
        server.url,
        byFile('01-GetConfig.xml'),
        await read('01-GetConfig.xml'),
      );
      const lastChange = pick(config.body, 'GetConfigResult', 'LastChange')?.text ?? '';
      t.is(
        pick(config.body, 'GetConfigResult', 'AuthInfo', 'AuthPlugInInfo', 'PlugInID')?.text,
        'SimpleTargeting',
      );
      t.is(pick(config.body, 'GetConfigResult', 'IsRegistrationRequired')?.text, 'true');
      const auth = await post(
        server.url,
        byFile('02-GetAuthorizationCookie.xml'),
        await read('02-GetAuthorizationCookie.xml'),
      );
      const authData = pick(auth.body, 'GetAuthorizationCookieResult', 'CookieData')?.text ?? '';
      // GetCookie: the live authorization cookie and LastChange; oldCookie's nil EncryptedData is none.
      const getCookie = (await read('03-GetCookie.xml'))
        .replace(/<CookieData>[^<]*<\/CookieData>/, `<CookieData>${authData}</CookieData>`)
        .replace(/<lastChange>[^<]*<\/lastChange>/, `<lastChange>${lastChange}</lastChange>`);
      const cookieAnswer = await post(server.url, byFile('03-GetCookie.xml'), getCookie);
      t.is(cookieAnswer.body.local, 'GetCookieResponse', cookieAnswer.fault?.message);
      await validate(t, cookieAnswer, 'client');
      const cookie = {
        expiration: pick(cookieAnswer.body, 'GetCookieResult', 'Expiration')?.text ?? '',
        data: pick(cookieAnswer.body, 'GetCookieResult', 'EncryptedData')?.text ?? '',
      };
      // A stale LastChange is ConfigChanged.
      const stale = await post(
        server.url,
        byFile('03-GetCookie.xml'),
        getCookie.replace(lastChange, '2006-05-16T18:54:28.85Z'),
      );
      t.is(stale.fault?.errorCode, 'ConfigChanged');
      for (const file of [
        '04-RegisterComputer.xml',
        '07-SyncUpdates-first.xml',
        '08-SyncUpdates-second.xml',
        '05-RefreshCache.xml',
        '06-GetFileLocations.xml',
        '09-ReportEventBatch-148.xml',
      ]) {
        const sample = byFile(file);
        const answer = await post(
          server.url,
          sample,
          setCookie(await read(file), 'cookie', cookie),
        );
        t.is(
          answer.status,
          200,
          `${file}: ${answer.fault?.errorCode ?? ''} ${answer.fault?.message ?? ''}`,
        );
        t.is(answer.body.local, `${sample.op}Response`, file);
        t.is(answer.body.uri, NS[sample.service]);
        await validate(t, answer, sample.service);
        if (file === '07-SyncUpdates-first.xml') {
          const first = pick(answer.body, 'SyncUpdatesResult', 'NewUpdates');
          t.true((first?.children.length ?? 0) > 0, 'the first sync brings the root categories');
        }
        if (file === '08-SyncUpdates-second.xml') {
          const out = pick(answer.body, 'SyncUpdatesResult', 'OutOfScopeRevisionIDs');
          t.is(
            out?.children.length,
            30,
            "the sample's 30 revision IDs are not this server's: out of scope",
          );
        }
      }
      // GetExtendedUpdateInfo and StartCategoryScan are not in the samples: the simulator's, validated too.
      const wua = new WuaSimulator(server.url);
      await wua.connect();
      await wua.syncAll();
      const ids = wua.actionable().map((u) => u.revisionId);
      const ext = await wua.call(
        'client',
        'GetExtendedUpdateInfo',
        `${wua.cookieXml()}<revisionIDs>${ids.map((i) => `<int>${i}</int>`).join('')}<int>999999</int></revisionIDs><infoTypes><XmlUpdateFragmentType>Extended</XmlUpdateFragmentType><XmlUpdateFragmentType>LocalizedProperties</XmlUpdateFragmentType></infoTypes><locales><string>en</string></locales>`,
      );
      t.is(ext.body.local, 'GetExtendedUpdateInfoResponse');
      t.is(
        pick(ext.body, 'GetExtendedUpdateInfoResult', 'OutOfScopeRevisionIDs', 'int')?.text,
        '999999',
      );
      await validate(t, ext, 'client');
      const scan = await wua.call(
        'client',
        'StartCategoryScan',
        `${wua.cookieXml()}<requestedCategories><CategoryRelationship><IndexOfAndGroup>0</IndexOfAndGroup><CategoryId>6407468e-edc7-4ecd-8c32-521f64cee65e</CategoryId></CategoryRelationship></requestedCategories>`,
      );
      t.is(scan.body.local, 'StartCategoryScanResponse');
      await validate(t, scan, 'client');
    } finally {
      await server.close();
    }
  },
);
