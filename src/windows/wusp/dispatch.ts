/**
 * One table per web service: the operation a SOAPAction names, how its request is read, which
 * operation runs, and how its answer is written ([MS-WUSP] 2.2.2.1-2.2.2.3). `handleSoap` is
 * the whole request path: it never throws, and answers either the operation's response or a
 * fault, which the route sends with HTTP 500.
 */
import type { Logger } from 'pino';
import type { XmlElement } from '../../rules/safe-xml.js';
import { EnvelopeMemo } from './envelope-memo.js';
import type { WuspService } from './operations.js';
import { child, children, invalid, reqText, toInt } from './read.js';
import * as rq from './requests.js';
import * as rs from './responses.js';
import {
  actionOf,
  faultEnvelope,
  faultOf,
  parseEnvelope,
  responseEnvelope,
  SERVICES,
  WuspFault,
  type ServiceName,
} from './soap.js';
import { el } from './xml-text.js';

export interface CallContext {
  /** `http://host:port` as the client reached this server, for FileLocation URLs. */
  baseUrl: string;
  /** The caller's address, for audit rows. */
  source: string | undefined;
  /** Whether a failure is a passing condition (the database down): ServerBusy, try again later. */
  transient?: (err: unknown) => boolean;
}

type Handler = (wusp: WuspService, op: XmlElement, ctx: CallContext) => Promise<string>;

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const CLIENT: Record<string, Handler> = {
  GetConfig: async (w, op) => rs.writeConfig(await w.getConfig(rq.readGetConfig(op))),
  GetCookie: async (w, op) => rs.writeCookie(await w.getCookie(rq.readGetCookie(op))),
  RegisterComputer: async (w, op, ctx) => {
    await w.registerComputer(rq.readRegisterComputer(op), ctx.source);
    return rs.writeRegisterComputer();
  },
  SyncUpdates: async (w, op) => rs.writeSync(await w.syncUpdates(rq.readSyncUpdates(op))),
  RefreshCache: async (w, op) =>
    rs.writeRefreshCache(await w.refreshCache(rq.readRefreshCache(op))),
  GetExtendedUpdateInfo: async (w, op, ctx) =>
    rs.writeExtendedInfo(
      await w.getExtendedUpdateInfo(rq.readGetExtendedUpdateInfo(op), ctx.baseUrl),
    ),
  GetFileLocations: async (w, op, ctx) =>
    rs.writeFileLocations(await w.getFileLocations(rq.readGetFileLocations(op), ctx.baseUrl)),
  StartCategoryScan: async (w, op) => {
    const list = child(op, 'requestedCategories');
    if (list === undefined) throw invalid('requestedCategories', 'is required');
    const items = children(list, 'CategoryRelationship');
    if (items.length > 1000) throw invalid('requestedCategories', 'lists too many categories');
    const requested = items.map((c) => {
      const id = reqText(c, 'CategoryId', 40).trim();
      if (!GUID.test(id)) throw invalid('CategoryId', 'must be a GUID');
      return {
        group: toInt(reqText(c, 'IndexOfAndGroup', 16), 'IndexOfAndGroup'),
        categoryId: id.toLowerCase(),
      };
    });
    const answer = await w.startCategoryScan(rq.readCookie(op), requested);
    const guids = (name: string, ids: string[]) =>
      ids.length === 0 ? '' : `<${name}>${ids.map((g) => el('guid', g)).join('')}</${name}>`;
    return (
      guids('preferredCategoryIds', answer.preferred) +
      guids('requestedCategoryIdsInError', answer.inError)
    );
  },
};

const SIMPLE_AUTH: Record<string, Handler> = {
  GetAuthorizationCookie: async (w, op, ctx) =>
    rs.writeAuthorizationCookie(
      await w.getAuthorizationCookie(rq.readGetAuthorizationCookie(op), ctx.source),
    ),
};

const REPORTING: Record<string, Handler> = {
  ReportEventBatch: async (w, op, ctx) =>
    rs.writeReportEventBatch(await w.reportEventBatch(rq.readReportEventBatch(op), ctx.source)),
};

const TABLES: Record<ServiceName, Record<string, Handler>> = {
  client: CLIENT,
  simpleAuth: SIMPLE_AUTH,
  reporting: REPORTING,
};

/** Request trees kept across calls: pure functions of the body text, so shared by every site. */
export const envelopes = new EnvelopeMemo();

export interface SoapAnswer {
  status: 200 | 500;
  body: string;
}

/** Runs one SOAP request end to end; a fault is an answer like any other. */
export async function handleSoap(
  wusp: WuspService,
  log: Logger,
  service: ServiceName,
  soapAction: string | undefined,
  text: string,
  ctx: CallContext,
): Promise<SoapAnswer> {
  const method = soapAction?.trim() ?? '';
  try {
    const name = actionOf(soapAction, service);
    const handler = name === undefined ? undefined : TABLES[service][name];
    if (name === undefined || handler === undefined) {
      throw new WuspFault(
        'InvalidParameters',
        `SOAPAction: must name an operation of ${SERVICES[service]}, such as "${SERVICES[service]}/${Object.keys(TABLES[service])[0] ?? ''}"`,
      );
    }
    const request = envelopes.read(service, text, () => parseEnvelope(text, service));
    if (request.name !== name) {
      throw new WuspFault(
        'InvalidParameters',
        `SOAPAction names ${name} but the body holds ${request.name}`,
      );
    }
    const inner = await handler(wusp, request.operation, ctx);
    return { status: 200, body: responseEnvelope(service, name, inner) };
  } catch (err) {
    const fault =
      ctx.transient?.(err) === true
        ? faultOf(new WuspFault('ServerBusy', 'the server is busy; try again later'), method)
        : faultOf(err, method);
    if (fault.errorCode === 'InternalServerError' && !(err instanceof WuspFault)) {
      log.error({ err, faultId: fault.id, method }, 'MS-WUSP operation failed');
    } else {
      log.debug({ errorCode: fault.errorCode, message: fault.message, method }, 'MS-WUSP fault');
    }
    return { status: 500, body: faultEnvelope(fault) };
  }
}
