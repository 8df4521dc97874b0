/**
 * The SOAP 1.1 layer of the MS-WUSP web services, in one place: reading a request envelope
 * (safe XML: no DOCTYPE, no entities, bounded size, depth and element count), naming the
 * operation from the quoted SOAPAction header, and writing answers and faults
 * ([MS-WUSP] 2.1 transport, 2.2.2.4 faults; SOAP 1.1 sections 4.4 and 6.2).
 */
import { randomUUID } from 'node:crypto';
import { isUpcatError } from '../../errors.js';
import type { XmlElement, XmlLimits } from '../../rules/safe-xml.js';
import { parseSoapXml } from './soap-xml.js';
import { escapeText } from './xml-text.js';

export const SOAP_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';

/** The three web services and their target namespaces ([MS-WUSP] 2.2.1, section 6). */
export const SERVICES = {
  client: 'http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService',
  simpleAuth: 'http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService',
  reporting: 'http://www.microsoft.com/SoftwareDistribution',
} as const;
export type ServiceName = keyof typeof SERVICES;

/** The ErrorCode values of [MS-WUSP] 2.2.2.4. */
export type WuspErrorCode =
  | 'InvalidCookie'
  | 'ConfigChanged'
  | 'RegistrationRequired'
  | 'ServerChanged'
  | 'InternalServerError'
  | 'CookieExpired'
  | 'InvalidParameters'
  | 'InvalidAuthorizationCookie'
  | 'RegistrationNotRequired'
  | 'ServerBusy'
  | 'FileLocationChanged';

/** A protocol fault: what an operation throws to answer with `soap:Fault`. */
export class WuspFault extends Error {
  constructor(
    readonly errorCode: WuspErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WuspFault';
  }
}

/**
 * Bounds for one request: a ReportEventBatch of a few hundred events or a SyncUpdates naming a
 * few thousand cached revisions fits well inside them; nothing larger is read.
 */
export const SOAP_LIMITS: Readonly<XmlLimits> = {
  maxBytes: 4 * 1024 * 1024,
  maxDepth: 24,
  maxElements: 100_000,
};

export interface SoapRequest {
  /** The operation element: the first child of soap:Body. */
  operation: XmlElement;
  /** The operation's local name. */
  name: string;
}

/**
 * The operation a SOAPAction header names, or undefined. The header is a quoted URI
 * (SOAP 1.1 6.1.1); WUA sends it quoted, some tools do not, so the quotes are optional.
 */
export function actionOf(header: string | undefined, service: ServiceName): string | undefined {
  if (header === undefined) return undefined;
  const action = header.trim().replace(/^"(.*)"$/s, '$1');
  const base = SERVICES[service];
  if (!action.startsWith(`${base}/`)) return undefined;
  const name = action.slice(base.length + 1);
  return /^[A-Za-z][A-Za-z0-9]{0,63}$/.test(name) ? name : undefined;
}

/** Reads a SOAP 1.1 envelope; throws WuspFault InvalidParameters for anything else. */
export function parseEnvelope(text: string, service: ServiceName): SoapRequest {
  let root: XmlElement;
  try {
    root = parseSoapXml(text, SOAP_LIMITS);
  } catch (err) {
    const why = isUpcatError(err) ? err.message : 'unreadable XML';
    throw new WuspFault('InvalidParameters', `request: ${why}`);
  }
  if (root.uri !== SOAP_NS || root.local !== 'Envelope') {
    throw new WuspFault('InvalidParameters', 'request: the root must be a SOAP 1.1 soap:Envelope');
  }
  const body = root.children.find((c) => c.uri === SOAP_NS && c.local === 'Body');
  const operation = body?.children[0];
  if (operation === undefined) {
    throw new WuspFault('InvalidParameters', 'request: soap:Body holds no operation element');
  }
  if (operation.uri !== SERVICES[service]) {
    throw new WuspFault(
      'InvalidParameters',
      `request: ${operation.local} is not in the namespace ${SERVICES[service]}`,
    );
  }
  return { operation, name: operation.local };
}

const ENVELOPE_OPEN =
  '<?xml version="1.0" encoding="utf-8"?>' +
  `<soap:Envelope xmlns:soap="${SOAP_NS}" xmlns:xsi="${XSI_NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema">` +
  '<soap:Body>';
const ENVELOPE_CLOSE = '</soap:Body></soap:Envelope>';

/** `<{op}Response xmlns=...>{inner}</{op}Response>` in an envelope. */
export function responseEnvelope(service: ServiceName, operation: string, inner: string): string {
  return `${ENVELOPE_OPEN}<${operation}Response xmlns="${SERVICES[service]}">${inner}</${operation}Response>${ENVELOPE_CLOSE}`;
}

export interface FaultInfo {
  errorCode: WuspErrorCode;
  message: string;
  /** The operation's SOAPAction, as WSUS puts it in detail/Method (quoted). */
  method: string;
  /** A GUID naming this fault instance in the server log ([MS-WUSP] 2.2.2.4). */
  id: string;
}

/**
 * A fault as [MS-WUSP] 2.2.2.4 and the section 4 samples show it: faultcode soap:Client
 * (soap:Server for InternalServerError and ServerBusy, which are not the client's doing), and
 * ErrorCode, Message, ID, Method in detail. Sent with HTTP 500 (SOAP 1.1 section 6.2).
 */
export function faultEnvelope(fault: FaultInfo): string {
  const code =
    fault.errorCode === 'InternalServerError' || fault.errorCode === 'ServerBusy'
      ? 'soap:Server'
      : 'soap:Client';
  return (
    `${ENVELOPE_OPEN}<soap:Fault><faultcode>${code}</faultcode>` +
    `<faultstring>${escapeText(`${fault.errorCode}: ${fault.message}`)}</faultstring>` +
    `<detail><ErrorCode>${fault.errorCode}</ErrorCode><Message>${escapeText(fault.message)}</Message>` +
    `<ID>${fault.id}</ID><Method>${escapeText(fault.method)}</Method></detail>` +
    `</soap:Fault>${ENVELOPE_CLOSE}`
  );
}

/** A fault for whatever an operation threw: a WuspFault as is, anything else InternalServerError. */
export function faultOf(err: unknown, method: string): FaultInfo {
  const id = randomUUID();
  if (err instanceof WuspFault)
    return { errorCode: err.errorCode, message: err.message, method, id };
  return {
    errorCode: 'InternalServerError',
    message: `the server failed to process the request (fault ${id})`,
    method,
    id,
  };
}
