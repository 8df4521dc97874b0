import type { Handler } from '../catalog/manifest.js';

export interface Outcome {
  result: 'Succeeded' | 'Failed' | 'Cancelled';
  reboot: boolean;
}

/** Windows Installer's "success, reboot required" (3010) and "success, reboot initiated" (1641). */
const STANDARD: ReadonlyMap<number, Outcome> = new Map([
  [0, { result: 'Succeeded', reboot: false }],
  [3010, { result: 'Succeeded', reboot: true }],
  [1641, { result: 'Succeeded', reboot: true }],
]);

/**
 * Maps an installer's exit code (issue 6 item 2; docs/MANIFEST.md `returnCodes`,
 * `defaultResult`): the manifest's own list first, then the standard codes (0 succeeded; 3010
 * and 1641 succeeded with a reboot), then the manifest's default result (Failed unless it says
 * otherwise). A process killed by a signal or a timeout has no code and always failed.
 */
export function mapReturnCode(
  handler: Pick<Handler, 'returnCodes' | 'defaultResult'>,
  code: number | null,
): Outcome {
  if (code === null) return { result: 'Failed', reboot: false };
  const listed = handler.returnCodes.find((c) => c.code === code);
  if (listed !== undefined) return { result: listed.result, reboot: listed.reboot };
  return STANDARD.get(code) ?? { result: handler.defaultResult, reboot: false };
}
