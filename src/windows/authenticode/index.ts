/**
 * Authenticode for the Microsoft side (issue 11 item 6): signing and verifying cabinets.
 * See cab-layout.ts for which bytes are covered and signature.ts for the PKCS#7 content.
 */
export type { AuthenticodeSigner, PreparedSigner } from './signer.js';
export { prepareSigner } from './signer.js';
export type { CabSignOptions, CabSignResult } from './cab-sign.js';
export { signCabBytes, signCabFile, signCabInPlace } from './cab-sign.js';
export type { VerifiedCab } from './cab-verify.js';
export type { TrustedCertificates, VerifiedSignature, VerifyOptions } from './verdict.js';
export { verifyCab, verifyCabBytes } from './cab-verify.js';
export type { WrapOptions } from './wrap.js';
export { writeSignedCab } from './wrap.js';
export { signPeFile, verifyPe } from './pe.js';
export { signMsiFile, verifyMsi } from './msi.js';
