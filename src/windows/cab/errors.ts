import { UpcatError } from '../../errors.js';

/** Why a cabinet was refused; in UpcatError.details.reason so callers and tests can tell. */
export type CabErrorReason =
  | 'truncated'
  | 'not_a_cabinet'
  | 'multi_volume'
  | 'bad_offset'
  | 'bad_size'
  | 'bad_count'
  | 'bad_checksum'
  | 'bad_data'
  | 'bad_name'
  | 'unsupported_compression'
  | 'not_found';

/** A malformed or unsupported cabinet: 'invalid_input' with the reason in details. */
export function cabError(
  reason: CabErrorReason,
  message: string,
  details: Record<string, unknown> = {},
): UpcatError {
  return new UpcatError('invalid_input', `cabinet: ${message}`, {
    details: { reason, ...details },
  });
}
