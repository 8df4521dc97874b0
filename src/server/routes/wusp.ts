import express, { type Request, type Response, type Router } from 'express';
import type { Site } from '../../app.js';
import { handleSoap } from '../../windows/wusp/dispatch.js';
import { faultEnvelope, SOAP_LIMITS, type ServiceName } from '../../windows/wusp/soap.js';
import { randomUUID } from 'node:crypto';
import { siteWuspService } from '../../windows/wusp/index.js';
import { databaseUnavailable } from '../middleware/errors.js';

/** The three web services' virtual paths ([MS-WUSP] 2.1); routers match them case-insensitively. */
const PATHS: ReadonlyArray<readonly [string, ServiceName]> = [
  ['/ClientWebService/client.asmx', 'client'],
  ['/SimpleAuthWebService/SimpleAuth.asmx', 'simpleAuth'],
  ['/ReportingWebService/ReportingWebService.asmx', 'reporting'],
  // The WSDL of section 6.3 names this address; the prose and real clients use the one above.
  ['/ReportingWebService/WebService.asmx', 'reporting'],
];

const HOST = /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$/;

/**
 * MS-WUSP for the Windows Update Agent (issue 12): SOAP 1.1 over POST, dispatched on the quoted
 * SOAPAction, answered `text/xml; charset=utf-8`; a fault is sent with HTTP 500 (SOAP 1.1
 * section 6.2), and nothing else ever is. The body is read up to SOAP_LIMITS.maxBytes.
 */
export function wuspRoutes(router: Router, site: Site): void {
  const text = express.text({ type: () => true, limit: SOAP_LIMITS.maxBytes });
  for (const [path, service] of PATHS) {
    router.post(path, (req: Request, res: Response) => {
      text(req, res, (err?: unknown) => {
        void answer(site, service, req, res, err);
      });
    });
  }
}

async function answer(
  site: Site,
  service: ServiceName,
  req: Request,
  res: Response,
  bodyError: unknown,
): Promise<void> {
  const send = (status: number, body: string) => {
    res
      .status(status)
      .set({ 'Content-Type': 'text/xml; charset=utf-8', 'Cache-Control': 'private' })
      .send(body);
  };
  const method = req.get('soapaction') ?? '';
  if (bodyError !== undefined) {
    res.set('Connection', 'close');
    send(
      500,
      faultEnvelope({
        errorCode: 'InvalidParameters',
        message: `request: the body could not be read (at most ${SOAP_LIMITS.maxBytes} bytes)`,
        method,
        id: randomUUID(),
      }),
    );
    return;
  }
  try {
    const wusp = await siteWuspService(site);
    const host = req.get('host') ?? '';
    const baseUrl = HOST.test(host)
      ? `${req.protocol}://${host}`
      : `${req.protocol}://${site.config.server.host}:${site.config.server.port}`;
    const body = typeof req.body === 'string' ? req.body : '';
    const result = await handleSoap(wusp, site.log, service, req.get('soapaction'), body, {
      baseUrl,
      source: req.socket.remoteAddress,
      transient: databaseUnavailable,
    });
    send(result.status, result.body);
  } catch (err) {
    const id = randomUUID();
    site.log.error({ err, faultId: id }, 'MS-WUSP service unavailable');
    send(
      500,
      faultEnvelope({
        errorCode: 'InternalServerError',
        message: `the server is not ready (fault ${id})`,
        method,
        id,
      }),
    );
  }
}
