import type { SyncFastPath } from '../sync/fast-path.js';
import type { FrontAnswerer } from './metadata-front.js';

/**
 * The front's answer to a sync (metadata-front.ts): what SyncFastPath.handle would write through
 * node:http for the same request, as bytes. The front reads only the plain-HTTP listener, where no
 * client certificate names the client, so the bearer secret is the identity, as on the fast
 * path over node:http. A sync the fast path leaves to the database path is left to node:http.
 */
export function syncAnswerer(fast: SyncFastPath): FrontAnswerer {
  return (request) => {
    const answer = fast.answer(request.target, request.authorization, request.hardwareId);
    if (answer === undefined) return undefined;
    if (answer.status === 304) {
      // As node:http writes res.writeHead(304, { 'Cache-Control': ..., 'X-Upcat-Anchor': ... }).
      const head =
        answer.anchor === undefined
          ? NOT_MODIFIED
          : `${NOT_MODIFIED}X-Upcat-Anchor: ${answer.anchor}\r\n`;
      return { route: '/v1/sync', code: 304, head };
    }
    return {
      route: '/v1/sync',
      code: 200,
      head: `${POLICY}Content-Length: ${Buffer.byteLength(answer.body)}\r\n`,
      body: answer.body,
    };
  };
}

const NOT_MODIFIED = 'HTTP/1.1 304 Not Modified\r\nCache-Control: no-store\r\n';
const POLICY =
  'HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Type: application/json; charset=utf-8\r\n';
