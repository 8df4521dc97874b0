import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface OrgPki {
  dir: string;
  /** A file of the PKI, e.g. `root.pem`, `leaf.key`. */
  file(name: string): string;
  pem(name: string): Promise<string>;
  /** `leaf` (issued by the intermediate) with its key and the chain, password `pfx pass`. */
  pfx: string;
}

/**
 * An organization PKI made by openssl, as an operator's would be: a root CA, an issuing
 * intermediate (pathlen 0), and under it a code-signing certificate (`leaf`) and a serverAuth
 * one (`server`); the root also issues a code-signing certificate directly (`direct`).
 * Certificate names start with `org` so that two PKIs are told apart.
 */
export async function makeOrgPki(dir: string, org: string): Promise<OrgPki> {
  const ossl = (args: string[]) => run('openssl', args, { cwd: dir });
  const file = (name: string) => path.join(dir, name);
  await ossl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'root.key',
    '-out',
    'root.pem',
    '-subj',
    `/O=${org}/CN=${org} Root CA`,
    '-days',
    '3650',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const issue = async (name: string, issuer: string, ext: string, days: string) => {
    await writeFile(file(`${name}.ext`), ext);
    await ossl([
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/O=${org}/CN=${org} ${name}`,
    ]);
    await ossl([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${issuer}.pem`,
      '-CAkey',
      `${issuer}.key`,
      '-CAcreateserial',
      '-days',
      days,
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    ]);
  };
  const ca =
    'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' +
    'subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n';
  const codeSigning =
    'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=codeSigning\n' +
    'keyUsage=critical,digitalSignature\nauthorityKeyIdentifier=keyid\n';
  await issue('intermediate', 'root', ca, '1800');
  await issue('leaf', 'intermediate', codeSigning, '365');
  await issue('direct', 'root', codeSigning, '365');
  await issue(
    'server',
    'intermediate',
    'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' +
      'keyUsage=critical,digitalSignature,keyEncipherment\nsubjectAltName=IP:127.0.0.1\n',
    '365',
  );
  await writeFile(
    file('chain.pem'),
    (await readFile(file('intermediate.pem'), 'utf8')) + (await readFile(file('root.pem'), 'utf8')),
  );
  await ossl([
    'pkcs12',
    '-export',
    '-in',
    'leaf.pem',
    '-inkey',
    'leaf.key',
    '-certfile',
    'chain.pem',
    '-out',
    'leaf.pfx',
    '-passout',
    'pass:pfx pass',
  ]);
  return { dir, file, pem: (name) => readFile(file(name), 'utf8'), pfx: file('leaf.pfx') };
}

/** `openssl cms -verify` of a detached payload signature against one CA file, as `upcat verify`
 * runs it; rejects when it does not verify. `signerOut` receives the signer certificate. */
export async function opensslCmsVerify(
  signature: string,
  content: string,
  caFile: string,
  signerOut?: string,
): Promise<void> {
  await run('openssl', [
    'cms',
    '-verify',
    '-binary',
    '-inform',
    'DER',
    '-in',
    signature,
    '-content',
    content,
    '-CAfile',
    caFile,
    '-purpose',
    'any',
    '-out',
    os.devNull,
    ...(signerOut === undefined ? [] : ['-signer', signerOut]),
  ]);
}
