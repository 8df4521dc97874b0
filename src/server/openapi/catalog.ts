import { z } from 'zod';
import { errors, json, type Registry } from './registry.js';

/**
 * The public, cacheable catalog (routes/content.ts, routes/tuf.ts, routes/pki.ts,
 * routes/catalog-cab.ts): payloads by digest, TUF metadata and targets, the site CA, and the
 * signed catalog CAB for ConfigMgr and WSUS Package Publisher.
 */

const bytes = { 'application/octet-stream': { schema: z.string() } };

export function registerCatalog(registry: Registry): void {
  registry.registerPath({
    method: 'get',
    path: '/content/{sha256}',
    operationId: 'content',
    summary: 'a payload by SHA-256 (Range, ETag, immutable); `<sha256>.p7s` is its CMS signature',
    tags: ['catalog'],
    request: {
      params: z.object({
        sha256: z
          .string()
          .regex(/^[0-9a-fA-F]{64}(\.p7s)?$/)
          .describe('64 hex digits, optionally followed by .p7s'),
      }),
      headers: z.object({ Range: z.string().optional().describe('one byte range') }),
    },
    responses: {
      '200': { description: 'the bytes', content: bytes },
      '206': { description: 'a range of the bytes', content: bytes },
      '304': { description: 'not modified' },
      ...errors('400', '404', '416'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/tuf/{file}',
    operationId: 'tufMetadata',
    summary:
      'TUF metadata: root.json and timestamp.json (revalidated), N.root.json, N.snapshot.json, N.targets.json (immutable)',
    tags: ['catalog'],
    request: {
      params: z.object({
        file: z.string().describe('a metadata file name, such as timestamp.json'),
      }),
    },
    responses: {
      '200': {
        description: 'signed metadata',
        content: json(z.record(z.string(), z.unknown())),
      },
      '304': { description: 'not modified' },
      ...errors('404'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/tuf/targets/{path}',
    operationId: 'tufTarget',
    summary: 'a TUF target by hash-prefixed name (`<dir>/<sha256>.<name>`)',
    tags: ['catalog'],
    request: {
      params: z.object({ path: z.string().describe('the target path; may hold slashes') }),
    },
    responses: { '200': { description: 'the bytes', content: bytes }, ...errors('404') },
  });
  registry.registerPath({
    method: 'get',
    path: '/pki/ca.pem',
    operationId: 'caCertificate',
    summary: 'the site CA certificate (PEM)',
    tags: ['catalog'],
    responses: { '200': { description: 'PEM' }, ...errors('404') },
  });
  registry.registerPath({
    method: 'get',
    path: '/pki/crl',
    operationId: 'crl',
    summary: 'the certificate revocation list of the site CA',
    tags: ['catalog'],
    responses: { '200': { description: 'CRL (PEM)' }, ...errors('404') },
  });
  registry.registerPath({
    method: 'get',
    path: '/catalog/v1/upcat.cab',
    operationId: 'catalogCab',
    summary:
      'the catalog as a signed SystemsManagementCatalog CAB (upcat.xml inside, Authenticode-signed by the publisher), for ConfigMgr third-party catalogs and WSUS Package Publisher; rebuilt when the catalog version changes; strong ETag, If-None-Match answered 304, HEAD',
    tags: ['catalog'],
    responses: {
      '200': { description: 'the CAB (application/vnd.ms-cab-compressed)' },
      '304': { description: 'the ETag in If-None-Match is current' },
      ...errors('404', '409'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/catalog/v1/publisher.cer',
    operationId: 'catalogPublisherCertificate',
    summary: 'the certificate that signs the catalog CAB and payloads (DER), to approve or trust',
    tags: ['catalog'],
    responses: { '200': { description: 'DER (application/pkix-cert)' }, ...errors('404') },
  });
}
