/**
 * Object identifiers of an Authenticode signature (Microsoft "Windows Authenticode Portable
 * Executable Signature Format" §"Authenticode-Specific Structures"; RFC 2315; RFC 5652 §11).
 */
export const OID = {
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  /** SpcIndirectDataContent, the signed content type. */
  spcIndirectData: '1.3.6.1.4.1.311.2.1.4',
  /** SpcStatementType attribute, and its value "individual code signing". */
  spcStatementType: '1.3.6.1.4.1.311.2.1.11',
  spcIndividualCodeSigning: '1.3.6.1.4.1.311.2.1.21',
  /** The data type of a cabinet's SpcIndirectDataContent (value: an SpcLink). */
  spcCabData: '1.3.6.1.4.1.311.2.1.25',
  /** The data type of a PE image's SpcIndirectDataContent (value: SpcPeImageData). */
  spcPeImageData: '1.3.6.1.4.1.311.2.1.15',
  /** The data type of an MSI's SpcIndirectDataContent (value: SpcSipInfo). */
  spcSipInfo: '1.3.6.1.4.1.311.2.1.30',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  anyExtendedKeyUsage: '2.5.29.37.0',
} as const;

/** Digest algorithms a verifier accepts (OID -> Node hash name); the signer always uses SHA-256. */
export const DIGESTS: Readonly<Record<string, 'sha1' | 'sha256' | 'sha384' | 'sha512'>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

export const SHA256 = '2.16.840.1.101.3.4.2.1';
