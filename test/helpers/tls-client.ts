import { generateKeyPairSync } from 'node:crypto';
import https from 'node:https';
import forge from 'node-forge';

/** A client's RSA key and the PKCS#10 request it sends at registration (native mode). */
export interface ClientKeys {
  keyPem: string;
  csrPem: string;
}

export function clientKeys(commonName = 'pc-0001'): ClientKeys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKey);
  csr.setSubject([{ name: 'commonName', value: commonName }]);
  csr.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  return { keyPem: privateKey, csrPem: forge.pki.certificationRequestToPem(csr) };
}

/**
 * A certificate for `keyPem` that no site issued: self-signed. With `ip`, a certificate a server
 * at that address can present to a client given it as a trusted CA.
 */
export function selfSigned(
  keyPem: string,
  opts: { commonName?: string; ip?: string } = {},
): string {
  const key = forge.pki.privateKeyFromPem(keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = '4a01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const name = [{ name: 'commonName', value: opts.commonName ?? 'impostor' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  if (opts.ip !== undefined)
    cert.setExtensions([
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: opts.ip }] },
    ]);
  cert.sign(key, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

export interface TlsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Record<string, unknown> & { error?: { code: string; message: string } };
}

/**
 * One request over HTTPS the way an agent makes it: the site CA pinned, the server name checked
 * (`localhost`, the default `server.tlsNames`), optionally a client certificate.
 */
export function tlsRequest(
  baseUrl: string,
  options: {
    method?: string;
    path: string;
    ca: string;
    key?: string;
    cert?: string;
    body?: unknown;
    headers?: Record<string, string>;
  },
): Promise<TlsAnswer> {
  const url = new URL(options.path, baseUrl);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        servername: 'localhost',
        agent: false,
        ...(options.key === undefined ? {} : { key: options.key }),
        ...(options.cert === undefined ? {} : { cert: options.cert }),
        headers: {
          ...(payload === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: TlsAnswer['json'] = {};
          try {
            json = JSON.parse(text) as TlsAnswer['json'];
          } catch {
            // not JSON (a 304 has no body)
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
