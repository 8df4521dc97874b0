import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  createCa,
  initCertificates,
  issueCertificate,
  loadCa,
  loadPublisher,
  type CertificateUsage,
} from '../../src/signing/ca.js';
import { isUpcatError } from '../../src/errors.js';
import type { AuthenticodeSigner } from '../../src/windows/authenticode/index.js';

/** A signer with its PEM files, as osslsigncode takes them (-certs chain.pem -key key.pem). */
export interface SignerFiles {
  signer: AuthenticodeSigner;
  /** The certificate followed by its chain. */
  certsFile: string;
  keyFile: string;
}

export interface TestPki {
  caPem: string;
  caFile: string;
  /** The site publisher made by `upcat init`'s code: RSA 3072, SHA-256, codeSigning. */
  publisher: SignerFiles;
  /** Same CA, EKU clientAuth only. */
  noCodeSigning: SignerFiles;
  /** Same CA, codeSigning, expired a year ago. */
  expired: SignerFiles;
  /** An unrelated CA (to verify against) and its PEM file. */
  otherCaPem: string;
  otherCaFile: string;
}

/** Real certificates, made with the site CA code (node-forge) in `dir`. */
export async function makePki(dir: string): Promise<TestPki> {
  await mkdir(dir, { recursive: true });
  const signingDir = path.join(dir, 'signing');
  await initCertificates(signingDir, { siteCode: 'T01', siteName: 'Authenticode test site' });
  const ca = await loadCa(signingDir);
  const publisher = await loadPublisher(signingDir);
  const caFile = path.join(dir, 'ca.pem');
  await writeFile(caFile, ca.certificatePem);
  const extraKey = rsa();
  const issue = (name: string, usage: CertificateUsage, now?: Date): string =>
    issueCertificate(ca, {
      subject: { commonName: name, organizationName: 'upcat tests' },
      publicKey: { pem: extraKey.publicKeyPem },
      usage,
      ...(now === undefined ? {} : { now, validityDays: 30 }),
    });
  const yearAgo = new Date(Date.now() - 365 * 24 * 3600 * 1000);
  const other = createCa({ subject: { commonName: 'Unrelated CA' }, modulusLength: 2048 });
  const otherCaFile = path.join(dir, 'other-ca.pem');
  await writeFile(otherCaFile, other.certificatePem);
  return {
    caPem: ca.certificatePem,
    caFile,
    publisher: await signerFiles(dir, 'publisher', {
      certificatePem: publisher.certificatePem,
      chainPems: [ca.certificatePem],
      privateKeyPem: publisher.privateKeyPem,
    }),
    noCodeSigning: await signerFiles(dir, 'no-eku', {
      certificatePem: issue('Client auth only', 'clientAuth'),
      chainPems: [ca.certificatePem],
      privateKeyPem: extraKey.privateKeyPem,
    }),
    expired: await signerFiles(dir, 'expired', {
      certificatePem: issue('Expired publisher', 'codeSigning', yearAgo),
      chainPems: [ca.certificatePem],
      privateKeyPem: extraKey.privateKeyPem,
    }),
    otherCaPem: other.certificatePem,
    otherCaFile,
  };
}

async function signerFiles(
  dir: string,
  name: string,
  signer: AuthenticodeSigner,
): Promise<SignerFiles> {
  const certsFile = path.join(dir, `${name}.certs.pem`);
  const keyFile = path.join(dir, `${name}.key.pem`);
  await writeFile(certsFile, [signer.certificatePem, ...signer.chainPems].join(''));
  await writeFile(keyFile, signer.privateKeyPem, { mode: 0o600 });
  return { signer, certsFile, keyFile };
}

function rsa(): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs an independent tool; never throws on a non-zero exit (the exit code is the result). */
export function tool(cmd: string, args: string[]): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `osslsigncode verify -CAfile`: its exit code and the two digests it prints. */
export async function osslVerify(
  cab: string,
  caFile: string,
): Promise<{ ok: boolean; current?: string; calculated?: string; output: string }> {
  const r = await tool('osslsigncode', ['verify', '-CAfile', caFile, '-in', cab]);
  const output = r.stdout + r.stderr;
  const current = /Current message digest\s*:\s*([0-9A-F]+)/.exec(output)?.[1];
  const calculated = /Calculated message digest\s*:\s*([0-9A-F]+)/.exec(output)?.[1];
  return {
    ok: r.code === 0 && output.includes('Signature verification: ok'),
    output,
    ...(current === undefined ? {} : { current }),
    ...(calculated === undefined ? {} : { calculated }),
  };
}

/** `osslsigncode sign` of `input` into `output` with SHA-256. */
export async function osslSign(input: string, output: string, files: SignerFiles): Promise<void> {
  const r = await tool('osslsigncode', [
    'sign',
    '-certs',
    files.certsFile,
    '-key',
    files.keyFile,
    '-h',
    'sha256',
    '-in',
    input,
    '-out',
    output,
  ]);
  if (r.code !== 0) throw new Error(`osslsigncode sign failed: ${r.stdout}${r.stderr}`);
}

/** The code of the UpcatError `fn` throws, or 'accepted'; anything else is rethrown. */
export function refusalCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isUpcatError(err)) return err.code;
    throw err;
  }
  return 'accepted';
}

/** refusalCode for a promise. */
export async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (isUpcatError(err)) return err.code;
    throw err;
  }
  return 'accepted';
}

/**
 * A minimal PE image built from the "PE Format" field tables: DOS header, PE signature, COFF
 * header, optional header (PE32 or PE32+, 16 data directories), one .text section, and an
 * overlay of `overlay` bytes (odd by default, so signing must pad to 8).
 */
export function makePe(options: { wide?: boolean; overlay?: number } = {}): Buffer {
  const wide = options.wide ?? true;
  const optSize = wide ? 240 : 224;
  const b = Buffer.alloc(0x400 + (options.overlay ?? 5));
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(64, 60); // e_lfanew
  b.write('PE\0\0', 64, 'latin1');
  const coff = 68;
  b.writeUInt16LE(wide ? 0x8664 : 0x14c, coff); // Machine
  b.writeUInt16LE(1, coff + 2); // NumberOfSections
  b.writeUInt16LE(optSize, coff + 16);
  b.writeUInt16LE(wide ? 0x22 : 0x102, coff + 18); // Characteristics: executable
  const opt = coff + 20;
  b.writeUInt16LE(wide ? 0x20b : 0x10b, opt);
  b.writeUInt32LE(0x200, opt + 4); // SizeOfCode
  b.writeUInt32LE(0x1000, opt + 16); // AddressOfEntryPoint
  b.writeUInt32LE(0x1000, opt + 20); // BaseOfCode
  if (wide) b.writeBigUInt64LE(0x140000000n, opt + 24);
  else b.writeUInt32LE(0x400000, opt + 28);
  b.writeUInt32LE(0x1000, opt + 32); // SectionAlignment
  b.writeUInt32LE(0x200, opt + 36); // FileAlignment
  b.writeUInt16LE(6, opt + 40); // MajorOperatingSystemVersion
  b.writeUInt16LE(6, opt + 48); // MajorSubsystemVersion
  b.writeUInt32LE(0x2000, opt + 56); // SizeOfImage
  b.writeUInt32LE(0x200, opt + 60); // SizeOfHeaders
  b.writeUInt16LE(3, opt + 68); // Subsystem: console
  b.writeUInt32LE(16, opt + (wide ? 108 : 92)); // NumberOfRvaAndSizes
  const section = opt + optSize;
  b.write('.text', section, 'latin1');
  b.writeUInt32LE(0x10, section + 8); // VirtualSize
  b.writeUInt32LE(0x1000, section + 12); // VirtualAddress
  b.writeUInt32LE(0x200, section + 16); // SizeOfRawData
  b.writeUInt32LE(0x200, section + 20); // PointerToRawData
  b.writeUInt32LE(0x60000020, section + 36); // code, execute, read
  b[0x200] = 0xc3; // ret
  for (let i = 0x201; i < b.length; i++) b[i] = (i * 7) & 0xff;
  return b;
}
