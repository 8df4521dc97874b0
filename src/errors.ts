/**
 * Coded domain errors. Services throw these; the HTTP layer maps `code` to a status once
 * (server/middleware/errors.ts) and the CLI prints `message` as one line. Tests assert the code.
 */
export type ErrorCode =
  /** Input from outside (manifest, request, arguments, file) is malformed or inconsistent. */
  | 'invalid_input'
  /** Configuration (file or environment) is invalid. */
  | 'invalid_config'
  /** A named thing does not exist. */
  | 'not_found'
  /** The request contradicts what is stored (same version with other bytes, expired update...). */
  | 'conflict'
  /** An upload or file is over the configured size limit. */
  | 'too_large'
  /** A request with the same idempotency key is still running (retry later). */
  | 'in_progress'
  /** An idempotency key was reused for a different request. */
  | 'idempotency_mismatch'
  /** Authentication missing or wrong. */
  | 'unauthorized'
  /** Authenticated but not allowed. */
  | 'forbidden'
  /** The client is blocked by an administrator. */
  | 'client_blocked'
  /** The client's record was replaced by a newer registration of its machine: register again. */
  | 'client_replaced'
  /** Native mode: this client route takes a site-issued client certificate, not a secret. */
  | 'certificate_required'
  /** The client or protocol version is not compatible with this site. */
  | 'incompatible_site'
  /** Too many requests from one source. */
  | 'rate_limited'
  /** The request (its body) did not arrive in time. */
  | 'request_timeout'
  /** Authenticode: the file carries no signature. */
  | 'unsigned'
  /** Authenticode: the file's digest differs from the one its signature covers. */
  | 'tampered'
  /** Authenticode: the signer's chain does not reach a trusted certificate, or the signer may not sign code. */
  | 'untrusted_publisher'
  /** Authenticode: the signature block or its offsets are not well-formed. */
  | 'malformed_signature'
  /** A stored file or record is not what the catalog says it is. */
  | 'integrity'
  /** A bug or an environment failure; never caused by the caller's input. */
  | 'internal';

export class UpcatError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts, such as the field at fault or the conflicting update. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UpcatError';
    this.code = code;
    this.details = options?.details;
  }
}

export const invalidInput = (message: string, details?: Record<string, unknown>): UpcatError =>
  new UpcatError('invalid_input', message, { details });

export const notFound = (message: string, details?: Record<string, unknown>): UpcatError =>
  new UpcatError('not_found', message, { details });

export const conflict = (message: string, details?: Record<string, unknown>): UpcatError =>
  new UpcatError('conflict', message, { details });

export function isUpcatError(err: unknown): err is UpcatError {
  return err instanceof UpcatError;
}

/** Node's own errors carry a string `code` (ENOENT, EACCES...). */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
