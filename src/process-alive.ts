/**
 * Whether a process with this pid exists on this machine: signal 0 checks without sending
 * anything, and EPERM means it exists under another user. Used to tell a dead owner's leftovers
 * (a lock, a lease, a change-board folder) from a live one's.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
