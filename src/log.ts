import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs as JSON lines on stderr (stdout belongs to command output such as --json).
 * Secrets never reach a log: request logging names method, path and status only, and the
 * redaction list below catches the fields that could carry one if a caller logs an object.
 */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      // The worker processes of one node (server/workers.ts) say which of them is speaking.
      base: { name: 'upcat', ...workerBinding() },
      redact: {
        paths: [
          'secret',
          'token',
          'password',
          'privateKey',
          '*.secret',
          '*.token',
          'req.headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

function workerBinding(): { worker?: number } {
  const slot = process.env['UPCAT_WORKER_SLOT'];
  return slot !== undefined && /^\d{1,2}$/.test(slot) ? { worker: Number(slot) } : {};
}
