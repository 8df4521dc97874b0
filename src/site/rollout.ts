import { createHash } from 'node:crypto';

/**
 * Percentage rollout (issue 5 item 7): a client is in a rollout of `percent` when its bucket,
 * a hash of client ID and update ID mapped to 0..9999, is below percent × 100. The bucket never
 * changes, so widening the percentage keeps every client that was already in; and each update
 * picks its own slice of clients, so the same machines are not always first.
 */
export function rolloutBucket(clientId: string, updateId: string): number {
  const digest = createHash('sha256').update(`${clientId}\n${updateId}`).digest();
  return digest.readUInt32BE(0) % 10_000;
}

export function inRollout(clientId: string, updateId: string, percent: number): boolean {
  if (percent >= 100) return true;
  return rolloutBucket(clientId, updateId) < Math.round(percent * 100);
}
