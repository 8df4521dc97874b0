import { execFile } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { verifyDetachedCms } from '../../../src/agent/cms-verify.js';
import {
  createCa,
  issueCertificate,
  rsaKeyPair,
  type KeyPairPem,
} from '../../../src/signing/ca.js';
import { signDigest } from '../../../src/signing/cms.js';
import { payloadChainPems } from '../../../src/signing/payload-cross-cert.js';
import { makeOrgPki, opensslCmsVerify, type OrgPki } from '../../helpers/org-pki.js';

/**
 * An imported organization publisher's payload signatures chain to the site CA through the
 * cross-certificate the site CA issues at import (src/signing/payload-cross-cert.ts), as the
 * agent (src/agent/cms-chain.ts) and openssl (`upcat verify`) check them; nothing else does.
 */
const run = promisify(execFile);

let work: string;
let site: KeyPairPem;
let org: OrgPki;
let other: OrgPki;

test.before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'upcat-cross-'));
  site = createCa({ subject: { commonName: 'upcat T site CA' }, modulusLength: 2048 });
  await writeFile(path.join(work, 'site.pem'), site.certificatePem);
  await mkdir(path.join(work, 'org'));
  await mkdir(path.join(work, 'other'));
  [org, other] = await Promise.all([
    makeOrgPki(path.join(work, 'org'), 'Contoso'),
    makeOrgPki(path.join(work, 'other'), 'Fabrikam'),
  ]);
});

test.after.always(async () => {
  await rm(work, { recursive: true, force: true });
});

const payload = randomBytes(4096);
const digest = createHash('sha256').update(payload).digest();
const sha = digest.toString('hex');

async function publisherOf(pki: OrgPki, name: string, chain: string[]) {
  return {
    certificatePem: await pki.pem(`${name}.pem`),
    privateKeyPem: await pki.pem(`${name}.key`),
    chainPems: await Promise.all(chain.map((c) => pki.pem(`${c}.pem`))),
  };
}

/** `openssl cms -verify` of a signature against one CA file: what `upcat verify` runs. */
async function opensslVerifies(der: Buffer, caFile: string): Promise<boolean> {
  const dir = await mkdtemp(path.join(work, 'cms-'));
  await writeFile(path.join(dir, 'sig.p7s'), der);
  await writeFile(path.join(dir, 'payload'), payload);
  try {
    await opensslCmsVerify(path.join(dir, 'sig.p7s'), path.join(dir, 'payload'), caFile);
    return true;
  } catch {
    return false;
  }
}

test('the site CA cross-certifies the organization root, narrowed to code signing and the chain depth', async (t) => {
  const publisher = await publisherOf(org, 'leaf', ['intermediate', 'root']);
  const chain = payloadChainPems(publisher, site);
  t.is(chain.length, 2);
  t.is(chain[0], publisher.chainPems[0], 'the intermediate, then the cross-certificate');
  const crossFile = path.join(work, 'cross.pem');
  await writeFile(crossFile, chain[1] ?? '');
  const text = (await run('openssl', ['x509', '-in', crossFile, '-noout', '-text'])).stdout;
  t.regex(text, /Issuer: CN ?= ?upcat T site CA/);
  t.regex(text, /Subject: O ?= ?Contoso, CN ?= ?Contoso Root CA/);
  t.regex(text, /Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
  t.regex(text, /Key Usage: critical\s+Certificate Sign\n/);
  t.regex(text, /Extended Key Usage: \s*\n\s+Code Signing\n/);
  const cross = new X509Certificate(chain[1] ?? '');
  const root = new X509Certificate(await org.pem('root.pem'));
  t.true(cross.publicKey.equals(root.publicKey));
  t.true(cross.verify(new X509Certificate(site.certificatePem).publicKey));
  t.true(
    Date.parse(cross.validTo) <= Date.parse(new X509Certificate(publisher.certificatePem).validTo),
  );

  // A server certificate of the same organization does not become a TLS server the site CA
  // vouches for: OpenSSL's sslserver purpose refuses the code-signing-only cross-certificate.
  const untrusted = path.join(work, 'untrusted.pem');
  await writeFile(untrusted, (await org.pem('intermediate.pem')) + (chain[1] ?? ''));
  const tls = run('openssl', [
    'verify',
    '-CAfile',
    path.join(work, 'site.pem'),
    '-untrusted',
    untrusted,
    '-purpose',
    'sslserver',
    org.file('server.pem'),
  ]);
  await t.throwsAsync(tls, {
    message: /unsuitable certificate purpose|unsupported certificate purpose/,
  });
});

test('org-signed payloads verify against the pinned site CA (agent and openssl) and against the org root', async (t) => {
  const publisher = await publisherOf(org, 'leaf', ['intermediate', 'root']);
  const der = signDigest(digest, { ...publisher, cmsChainPems: payloadChainPems(publisher, site) });
  t.notThrows(() => verifyDetachedCms(der, sha, site.certificatePem));
  t.true(await opensslVerifies(der, path.join(work, 'site.pem')));
  t.true(await opensslVerifies(der, org.file('root.pem')), 'the organization path still holds');

  // Without the cross-certificate (the chain as imported), the agent refuses: the gap closed here.
  const bare = signDigest(digest, publisher);
  t.throws(() => verifyDetachedCms(bare, sha, site.certificatePem), {
    message: /not issued by the site CA \(the chain ends at O=Contoso, CN=Contoso Root CA\)/,
  });
  t.false(await opensslVerifies(bare, path.join(work, 'site.pem')));

  // A publisher straight under the root: the cross-certificate alone, path length 0.
  const direct = await publisherOf(org, 'direct', ['root']);
  const directChain = payloadChainPems(direct, site);
  t.is(directChain.length, 1);
  const directDer = signDigest(digest, { ...direct, cmsChainPems: directChain });
  t.notThrows(() => verifyDetachedCms(directDer, sha, site.certificatePem));
  t.true(await opensslVerifies(directDer, path.join(work, 'site.pem')));
  // Only the imported certificate's chain is vouched for: with a pathlen:0 cross-certificate,
  // a code-signing certificate one level deeper in the same PKI is refused.
  const deeper = await publisherOf(org, 'leaf', ['intermediate']);
  const deeperDer = signDigest(digest, {
    ...deeper,
    cmsChainPems: [...deeper.chainPems, ...directChain],
  });
  t.throws(() => verifyDetachedCms(deeperDer, sha, site.certificatePem), {
    message: /path length constraint \(0\) is exceeded/,
  });
  t.false(await opensslVerifies(deeperDer, path.join(work, 'site.pem')));
});

test('an unrelated code-signing certificate is refused, with its own chain or a forged cross-certificate', async (t) => {
  const stranger = await publisherOf(other, 'leaf', ['intermediate', 'root']);
  const own = signDigest(digest, stranger);
  t.throws(() => verifyDetachedCms(own, sha, site.certificatePem), {
    message: /not issued by the site CA/,
  });
  t.false(await opensslVerifies(own, path.join(work, 'site.pem')));
  // A CA of its own named exactly like the site CA "cross-certifies" the stranger's root.
  const impostor = createCa({ subject: { commonName: 'upcat T site CA' }, modulusLength: 2048 });
  const forged = signDigest(digest, {
    ...stranger,
    cmsChainPems: payloadChainPems(stranger, impostor),
  });
  t.throws(() => verifyDetachedCms(forged, sha, site.certificatePem), {
    message: /not issued by the site CA/,
  });
  t.false(await opensslVerifies(forged, path.join(work, 'site.pem')));
  // The organization's server certificate, carried with a genuine cross-certificate, signs nothing.
  const publisher = await publisherOf(org, 'leaf', ['intermediate', 'root']);
  const server = await publisherOf(org, 'server', ['intermediate', 'root']);
  const serverDer = signDigest(digest, {
    ...server,
    cmsChainPems: payloadChainPems(publisher, site),
  });
  t.throws(() => verifyDetachedCms(serverDer, sha, site.certificatePem), {
    message: /is not a code-signing certificate/,
  });
});

test('the site publisher needs no cross-certificate; an imported one needs its issuer', async (t) => {
  const keys = rsaKeyPair(2048);
  const own = {
    certificatePem: issueCertificate(site, {
      subject: { commonName: 'upcat T publisher' },
      publicKey: { pem: keys.publicKeyPem },
      usage: 'codeSigning',
    }),
    privateKeyPem: keys.privateKeyPem,
    chainPems: [],
  };
  t.deepEqual(payloadChainPems(own, site), []);
  const lonely = await publisherOf(org, 'leaf', []);
  t.throws(() => payloadChainPems(lonely, site), {
    message: /give the certificate of its issuer \(O=Contoso, CN=Contoso intermediate\)/,
  });
});
