import { z } from 'zod';
import { errors, type Registry } from './registry.js';

/**
 * MS-WUSP for the Windows Update Agent (routes/wusp.ts, routes/wusp-content.ts; issue 12,
 * docs/WINDOWS.md). SOAP bodies are XML that windows/wusp/soap.ts parses, so they are described
 * in words, not schemas.
 */

const SOAP =
  '(SOAP 1.1 for the Windows Update Agent; docs/WINDOWS.md): a text/xml envelope dispatched on the quoted SOAPAction header; answers text/xml; faults (soap:Client with detail/ErrorCode) are sent with HTTP 500 as SOAP 1.1 requires';

const SERVICES: ReadonlyArray<readonly [string, string, string]> = [
  [
    '/ClientWebService/client.asmx',
    'wuspClientWebService',
    'MS-WUSP ClientWebService: GetConfig, GetCookie, RegisterComputer, SyncUpdates, GetExtendedUpdateInfo, GetFileLocations, RefreshCache',
  ],
  [
    '/SimpleAuthWebService/SimpleAuth.asmx',
    'wuspSimpleAuth',
    'MS-WUSP SimpleAuthWebService: GetAuthorizationCookie',
  ],
  [
    '/ReportingWebService/ReportingWebService.asmx',
    'wuspReporting',
    'MS-WUSP ReportingWebService: ReportEventBatch',
  ],
  [
    '/ReportingWebService/WebService.asmx',
    'wuspReportingWsdlAddress',
    'MS-WUSP ReportingWebService at the address the section 6 WSDL names (same service)',
  ],
];

const xml = { 'text/xml': { schema: z.string() } };

export function registerWusp(registry: Registry): void {
  for (const [path, operationId, summary] of SERVICES)
    registry.registerPath({
      method: 'post',
      path,
      operationId,
      summary,
      description: `${summary} ${SOAP}`,
      tags: ['wusp'],
      request: {
        headers: z.object({ SOAPAction: z.string().describe('the quoted operation URI') }),
        body: { required: true, content: xml },
      },
      responses: {
        '200': { description: "the operation's SOAP response envelope", content: xml },
        '500': { description: 'a SOAP fault (ErrorCode, Message, ID, Method)', content: xml },
      },
    });
  registry.registerPath({
    method: 'get',
    path: '/Content/{dir}/{file}',
    operationId: 'wuspContent',
    summary:
      'a payload wrapped in an Authenticode-signed CAB for the Windows Update Agent, at the URL GetExtendedUpdateInfo and GetFileLocations give; HEAD and Range (206) for BITS',
    tags: ['wusp'],
    request: {
      params: z.object({
        dir: z
          .string()
          .regex(/^[0-9A-Fa-f]{2}$/)
          .describe('the last two hex digits of the SHA-1'),
        file: z
          .string()
          .regex(/^[0-9A-Fa-f]{40}\.cab$/)
          .describe('<SHA-1 of the payload>.cab'),
      }),
      headers: z.object({ Range: z.string().optional().describe('one byte range') }),
    },
    responses: {
      '200': { description: 'the CAB (application/vnd.ms-cab-compressed)' },
      '206': { description: 'the requested range' },
      ...errors('404', '416'),
    },
  });
}
