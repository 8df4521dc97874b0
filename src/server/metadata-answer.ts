import type { FrontAnswer, FrontAnswerer } from './metadata-front.js';
import { MUTABLE_FILES, matches, type Entry, type MutableMetadata } from './mutable-metadata.js';

/**
 * The front's answer to an up-to-date client's check (metadata-front.ts): a conditional GET of
 * `/tuf/timestamp.json` or `/tuf/root.json` whose If-None-Match matches the entry that
 * MutableMetadata.serve would send, answered 304 with that entry's fields. Anything else
 * (another file, a stale ETag, a file not read yet) is left to node:http. A file that cannot be
 * read (a stat or read failing other than ENOENT) throws, which leaves it to node:http too, whose
 * path meets the same error and answers it as before the front.
 */
export function metadataAnswerer(metadata: MutableMetadata): FrontAnswerer {
  const heads = new WeakMap<Entry, FrontAnswer>();
  return (request) => {
    if (!request.target.startsWith('/tuf/')) return undefined;
    const file = request.target.slice('/tuf/'.length);
    if (!MUTABLE_FILES.has(file)) return undefined;
    const entry = metadata.current(file);
    if (entry === undefined || entry === 'unread' || !matches(request.ifNoneMatch, entry.etag))
      return undefined;
    let answer = heads.get(entry);
    if (answer === undefined) {
      // The status line and the entry's own fields, as MutableMetadata.serve writes them.
      let head = 'HTTP/1.1 304 Not Modified\r\n';
      for (const [name, value] of Object.entries(entry.headers304)) head += `${name}: ${value}\r\n`;
      answer = { route: '/tuf/:file', code: 304, head };
      heads.set(entry, answer);
    }
    return answer;
  };
}
