import test from 'ava';
import pino from 'pino';
import { databaseUnavailable } from '../../../../src/server/middleware/errors.js';
import { handleSoap } from '../../../../src/windows/wusp/dispatch.js';
import type { WuspService } from '../../../../src/windows/wusp/operations.js';

const CWS = 'http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService';
const body = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetConfig xmlns="${CWS}"><protocolVersion>1.8</protocolVersion></GetConfig></soap:Body></soap:Envelope>`;
const log = pino({ level: 'silent' });

/** A service whose GetConfig fails as the given error: the fault is all the caller sees. */
const failing = (err: unknown) =>
  ({
    getConfig: () => Promise.reject(err),
  }) as unknown as WuspService;

test('a database outage is ServerBusy (try again later); any other failure InternalServerError without details', async (t) => {
  const ctx = { baseUrl: 'http://x', source: undefined, transient: databaseUnavailable };
  const outage = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
    code: 'ECONNREFUSED',
  });
  const busy = await handleSoap(failing(outage), log, 'client', `"${CWS}/GetConfig"`, body, ctx);
  t.is(busy.status, 500);
  t.regex(busy.body, /<ErrorCode>ServerBusy<\/ErrorCode>/);
  t.regex(busy.body, /<faultcode>soap:Server<\/faultcode>/);
  const bug = await handleSoap(
    failing(new TypeError('x is undefined at secret.ts:12')),
    log,
    'client',
    `"${CWS}/GetConfig"`,
    body,
    ctx,
  );
  t.regex(bug.body, /<ErrorCode>InternalServerError<\/ErrorCode>/);
  t.notRegex(bug.body, /secret\.ts|TypeError/);
});

test('a SOAPAction that names no operation of the service, or another body element, is InvalidParameters', async (t) => {
  const ctx = { baseUrl: 'http://x', source: undefined };
  const service = failing(new Error('not called'));
  for (const action of [undefined, '"urn:nothing"', `"${CWS}/Nope"`, `"${CWS}/SyncUpdates"`]) {
    const answer = await handleSoap(service, log, 'client', action, body, ctx);
    t.is(answer.status, 500);
    t.regex(answer.body, /<ErrorCode>InvalidParameters<\/ErrorCode>/);
  }
});
