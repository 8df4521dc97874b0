import { UpcatError } from '../errors.js';
import { untrustedCaHint } from '../https-client.js';

/**
 * A fetch of the verifier's that failed below HTTP (refused, reset, a name that does not resolve,
 * an untrusted certificate), worded the same whichever client made it: node:http's
 * (http-get.ts) or the pipeline's (http-pipeline.ts).
 */
export function transportError(url: string, err: Error): UpcatError {
  return new UpcatError('integrity', `${url}: ${err.message}${untrustedCaHint(err)}`, {
    cause: err,
  });
}
