import { HARDWARE_ID_HEADER } from '../site/clones.js';

/**
 * The one kind of HTTP/1.1 request the metadata front (metadata-front.ts) answers itself: a GET
 * with no body, whose every byte is read here by RFC 9112's grammar, strictly. Anything else,
 * including what RFC 9112 allows but this reader does not take (obs-fold, bare LF, a request cut
 * across two reads, HTTP/1.0, `Connection: close`), is not read at all: the caller hands the
 * bytes, untouched, to node:http. So a request is either understood here exactly or not here;
 * the two readers never disagree about where a request ends (no request smuggling), because a
 * request this reader ends at its empty line has no Content-Length or Transfer-Encoding, which is
 * where llhttp would end it too (RFC 9112 §6.3 rule 7: no framing header, no body).
 */

export interface SimpleGet {
  /** The request-target, in origin-form (RFC 9112 §3.2.1): `/tuf/timestamp.json`. */
  target: string;
  /** If-None-Match's value, as sent (at most one field line of it). */
  ifNoneMatch: string | undefined;
  /** Authorization's value (at most one field line of it). */
  authorization: string | undefined;
  /** Upcat-Hardware-Id's value (at most one field line of it; site/clones.ts). */
  hardwareId: string | undefined;
  /** Where the next request starts: just past this one's empty line. */
  end: number;
}

/** Longer heads than this are left to node:http, which applies its own limit (431). */
export const MAX_HEAD = 8192;

/**
 * `GET SP origin-form SP HTTP/1.1` (RFC 9112 §3). The target is limited to RFC 3986's
 * unreserved, sub-delims, `:`, `@`, `/`, `?` and `%`: every byte a path and query may carry.
 */
const REQUEST_LINE = /GET (\/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*) HTTP\/1\.1\r\n/y;

/**
 * One field line (RFC 9110 §5.1, RFC 9112 §5): a token, a colon, optional whitespace, a value of
 * visible characters, spaces, tabs and obs-text, optional whitespace, CRLF. A value cannot hold
 * CR, LF, NUL or another control character, so a line cannot end anywhere but its CRLF, and a
 * line that starts with whitespace (obs-fold) does not match the token. Written as RFC 9110's
 * field-content (a visible character, then runs of whitespace each followed by one) so that the
 * match is linear in the line's length: a lazy value before the trailing whitespace would be
 * quadratic on a long run of spaces.
 */
const FIELD_LINE =
  /([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*((?:[\x21-\x7e\x80-\xff](?:[ \t]*[\x21-\x7e\x80-\xff])*)?)[ \t]*\r\n/y;

/**
 * Reads the request that starts at `from` in `text` (the bytes as latin1, one character a byte).
 * Undefined when it is not a complete simple GET, for whatever reason: the caller then leaves
 * this request and everything after it to node:http.
 */
export function readSimpleGet(text: string, from: number): SimpleGet | undefined {
  const headEnd = text.indexOf('\r\n\r\n', from);
  // Not all here (or too long to be a check): node:http reads the rest, with its own timeouts.
  if (headEnd === -1 || headEnd - from > MAX_HEAD) return undefined;
  REQUEST_LINE.lastIndex = from;
  const line = REQUEST_LINE.exec(text);
  if (line === null) return undefined;
  const target = line[1] as string;
  let pos = REQUEST_LINE.lastIndex;
  const fieldsEnd = headEnd + 2; // the CRLF of the last field line
  let hosts = 0;
  let ifNoneMatch: string | undefined;
  let authorization: string | undefined;
  let hardwareId: string | undefined;
  while (pos < fieldsEnd) {
    FIELD_LINE.lastIndex = pos;
    const field = FIELD_LINE.exec(text);
    // A line that does not parse, or one that runs past the empty line (cannot, as values hold
    // no CR; checked all the same).
    if (field === null || FIELD_LINE.lastIndex > fieldsEnd) return undefined;
    pos = FIELD_LINE.lastIndex;
    const name = (field[1] as string).toLowerCase();
    const value = field[2] as string;
    switch (name) {
      case 'host':
        hosts++;
        break;
      case 'if-none-match':
        // Two lines are one list to node:http (joined with ", "); left to it.
        if (ifNoneMatch !== undefined) return undefined;
        ifNoneMatch = value;
        break;
      // node:http keeps the first of two Authorization lines and joins two of any unknown
      // field: whichever it does, two are left to it.
      case 'authorization':
        if (authorization !== undefined) return undefined;
        authorization = value;
        break;
      case HARDWARE_ID_HEADER:
        if (hardwareId !== undefined) return undefined;
        hardwareId = value;
        break;
      case 'connection':
        // `close` and connection options (and `upgrade`) change what happens after the answer.
        if (value.toLowerCase() !== 'keep-alive') return undefined;
        break;
      // Framing and protocol switches: never answered here, whatever their value.
      case 'content-length':
      case 'transfer-encoding':
      case 'upgrade':
      case 'expect':
        return undefined;
    }
  }
  // RFC 9112 §3.2: a server must answer 400 to a request with no Host or more than one; node:http
  // does (requireHostHeader), so those are left to it.
  if (pos !== fieldsEnd || hosts !== 1) return undefined;
  return { target, ifNoneMatch, authorization, hardwareId, end: headEnd + 4 };
}
