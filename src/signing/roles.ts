import type { Signer } from './signer.js';

/** The four top-level TUF roles (TUF spec §2.1). */
export type TopRole = 'root' | 'targets' | 'snapshot' | 'timestamp';

export const TOP_ROLES: readonly TopRole[] = ['root', 'targets', 'snapshot', 'timestamp'];

/** The signers of one role and how many of them must sign (TUF spec §4.3, "threshold"). */
export interface RoleSigners {
  threshold: number;
  signers: readonly Signer[];
}

/** Every top-level role's current keys: what the repository writer signs with. */
export type Keyring = Record<TopRole, RoleSigners>;

export function isTopRole(value: string): value is TopRole {
  return (TOP_ROLES as readonly string[]).includes(value);
}
