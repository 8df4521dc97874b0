import test from 'ava';
import {
  actionOf,
  faultEnvelope,
  faultOf,
  parseEnvelope,
  WuspFault,
} from '../../../../src/windows/wusp/soap.js';

const env = (inner: string) =>
  `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>${inner}</soap:Body></soap:Envelope>`;
const CWS = 'http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService';

test('the SOAPAction names the operation, quoted or not, only within its service', (t) => {
  t.is(actionOf(`"${CWS}/SyncUpdates"`, 'client'), 'SyncUpdates');
  t.is(actionOf(`${CWS}/GetConfig`, 'client'), 'GetConfig');
  t.is(actionOf(`"${CWS}/SyncUpdates"`, 'reporting'), undefined);
  t.is(
    actionOf('"http://www.microsoft.com/SoftwareDistribution/ReportEventBatch"', 'reporting'),
    'ReportEventBatch',
  );
  t.is(actionOf(`"${CWS}/../x"`, 'client'), undefined);
  t.is(actionOf(undefined, 'client'), undefined);
});

test('requests are parsed with the safe XML rules: DOCTYPE, entities, depth and size refused as InvalidParameters', (t) => {
  const bad = [
    `<!DOCTYPE x [<!ENTITY a "aaaa">]>${env(`<GetConfig xmlns="${CWS}"/>`)}`,
    env(`<GetConfig xmlns="${CWS}">${'<a>'.repeat(100)}${'</a>'.repeat(100)}</GetConfig>`),
    env(`<GetConfig xmlns="${CWS}"><p>${'x'.repeat(5 * 1024 * 1024)}</p></GetConfig>`),
    env(`<GetConfig xmlns="${CWS}">`),
    '<Envelope/>',
    env(''),
    env('<GetConfig xmlns="urn:other"/>'),
  ];
  for (const text of bad) {
    const err = t.throws(() => parseEnvelope(text, 'client'), { instanceOf: WuspFault });
    t.is(err?.errorCode, 'InvalidParameters');
  }
  t.is(
    parseEnvelope(
      env(`<GetConfig xmlns="${CWS}"><protocolVersion>1.0</protocolVersion></GetConfig>`),
      'client',
    ).name,
    'GetConfig',
  );
});

test('faults have the protocol shape; an unexpected error is InternalServerError without its details', (t) => {
  const xml = faultEnvelope(
    faultOf(new WuspFault('CookieExpired', 'cookie: expired <now>'), '"x/SyncUpdates"'),
  );
  t.regex(xml, /<faultcode>soap:Client<\/faultcode>/);
  t.regex(
    xml,
    /<detail><ErrorCode>CookieExpired<\/ErrorCode><Message>cookie: expired &lt;now&gt;<\/Message><ID>[0-9a-f-]{36}<\/ID><Method>"x\/SyncUpdates"<\/Method><\/detail>/,
  );
  const internal = faultOf(new Error('secret stack detail'), 'm');
  t.is(internal.errorCode, 'InternalServerError');
  t.notRegex(internal.message, /secret/);
  t.regex(faultEnvelope(internal), /<faultcode>soap:Server<\/faultcode>/);
});
