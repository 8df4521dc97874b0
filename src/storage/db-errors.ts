/**
 * True when a database error is a unique-constraint violation, on either engine: the loser of a
 * race that a check-then-insert could not prevent, to be answered as a conflict, not a 500.
 */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (code === '23505') return true; // PostgreSQL unique_violation
  return code === 'SQLITE_CONSTRAINT' && typeof message === 'string' && message.includes('UNIQUE');
}
