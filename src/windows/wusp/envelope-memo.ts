/**
 * Envelopes that differ only in their cookie, read once. Every scan of a Windows Update Agent
 * sends a SyncUpdates listing every revision it has cached (a thousand IDs, 15 KB), and the
 * computers of one site send the same list: the bodies differ only in the cookie's Expiration
 * and EncryptedData. Parsing that XML was the largest cost of a nothing-new scan (about a third
 * of the server's CPU time; docs/BENCHMARKS.md, issue 12), so the element tree of such a body is
 * kept, keyed by the body with those two texts cut out, and reused with the new texts put back.
 *
 * Why reusing it is exact: the cut-out texts may hold only characters that cannot start or end
 * markup (base64, and the characters of an xsd:dateTime), and a body is only cut when it holds
 * no comment, CDATA section, DOCTYPE or processing instruction (no `<!`, no `<?` past the XML
 * declaration) and each of the two start tags exactly once, unprefixed. Then each tag is a real
 * element, and two bodies with the same key parse to the same tree but for those two texts. A
 * tree is kept only after a full parse showed that the two texts are the operation's own
 * `cookie/Expiration` and `cookie/EncryptedData`, so the texts put back land where the parser
 * would have put them. Bodies that do not fit are parsed in full, as before.
 */
import type { XmlElement } from '../../rules/safe-xml.js';
import { SOAP_LIMITS, type SoapRequest } from './soap.js';

interface Slot {
  open: string;
  close: string;
  chars: RegExp;
}

/** The cookie's two texts ([MS-WUSP] 2.2.2.2.1 Cookie), in the order of SLOT_LOCALS. */
const SLOTS: readonly Slot[] = [
  { open: '<Expiration>', close: '</Expiration>', chars: /^[0-9A-Za-z:.+-]{0,64}$/ },
  { open: '<EncryptedData>', close: '</EncryptedData>', chars: /^[A-Za-z0-9+/=]{0,8192}$/ },
];
const SLOT_LOCALS = ['Expiration', 'EncryptedData'] as const;

interface Cut {
  key: string;
  values: string[];
}

interface Template {
  request: SoapRequest;
  /** Index of `cookie` among the operation's children, and of each slot among the cookie's. */
  cookieAt: number;
  slotAt: number[];
}

/** The body with the cookie's texts cut out, or undefined when it does not qualify. */
export function cutCookie(service: string, text: string): Cut | undefined {
  if (text.includes('<!') || text.indexOf('<?', 1) !== -1 || text.includes('\u0000'))
    return undefined;
  const found: Array<{ from: number; to: number; value: string }> = [];
  for (const slot of SLOTS) {
    const at = text.indexOf(slot.open);
    if (at === -1 || text.indexOf(slot.open, at + 1) !== -1) return undefined;
    const from = at + slot.open.length;
    const to = text.indexOf(slot.close, from);
    if (to === -1) return undefined;
    const value = text.slice(from, to);
    if (!slot.chars.test(value)) return undefined;
    found.push({ from, to, value });
  }
  const order = [...found].sort((a, b) => a.from - b.from);
  let key = `${service}\u0000`;
  let at = 0;
  for (const f of order) {
    key += `${text.slice(at, f.from)}\u0000`;
    at = f.to;
  }
  key += text.slice(at);
  return { key, values: found.map((f) => f.value) };
}

/** Where the cookie's texts are in a parsed operation, when each is there exactly once, bare. */
function locate(op: XmlElement, values: readonly string[]): Omit<Template, 'request'> | undefined {
  const bare = (e: XmlElement) => e.attributes.length === 0;
  const cookies = op.children.flatMap((c, i) =>
    c.local === 'cookie' && c.uri === op.uri ? [i] : [],
  );
  const cookieAt = cookies[0];
  const cookie = cookieAt === undefined ? undefined : op.children[cookieAt];
  if (cookies.length !== 1 || cookie === undefined || !bare(cookie)) return undefined;
  const slotAt: number[] = [];
  for (const [n, local] of SLOT_LOCALS.entries()) {
    const at = cookie.children.flatMap((c, i) =>
      c.local === local && c.uri === cookie.uri ? [i] : [],
    );
    const e = at[0] === undefined ? undefined : cookie.children[at[0]];
    if (at.length !== 1 || e === undefined || !bare(e) || e.children.length > 0) return undefined;
    if (e.text !== values[n]) return undefined;
    slotAt.push(at[0] as number);
  }
  return { cookieAt, slotAt };
}

/** The template's operation with this body's cookie texts; the rest of the tree is shared. */
function withCookie(t: Template, values: readonly string[]): SoapRequest {
  const op = t.request.operation;
  const cookie = op.children[t.cookieAt] as XmlElement;
  const texts = new Map(t.slotAt.map((at, n) => [at, values[n] ?? '']));
  const newCookie: XmlElement = {
    ...cookie,
    children: cookie.children.map((c, i) => {
      const text = texts.get(i);
      return text === undefined ? c : { ...c, text };
    }),
  };
  const children = [...op.children];
  children[t.cookieAt] = newCookie;
  return { name: t.request.name, operation: { ...op, children } };
}

export class EnvelopeMemo {
  private readonly held = new Map<string, Template>();
  private bytes = 0;
  /** Bodies read from a kept tree (for tests; not exported to /metrics). */
  hits = 0;

  /**
   * @param maxBytes bound on the keys kept (the trees are about as large again).
   * @param maxEntries bound on how many shapes of body are kept.
   */
  constructor(
    private readonly maxBytes = 4 * 1024 * 1024,
    private readonly maxEntries = 64,
  ) {}

  /**
   * The request in `text`, from a kept tree when one fits, else from `parse` (which throws a
   * fault for a bad body; nothing is kept then). Callers must not change the tree returned.
   */
  read(service: string, text: string, parse: () => SoapRequest): SoapRequest {
    // Over the limit, the parser says so (a template would not: the cut texts can be longer).
    if (Buffer.byteLength(text) > SOAP_LIMITS.maxBytes) return parse();
    const cut = cutCookie(service, text);
    if (cut === undefined) return parse();
    const kept = this.held.get(cut.key);
    if (kept !== undefined) {
      this.hits += 1;
      return withCookie(kept, cut.values);
    }
    const request = parse();
    const place = locate(request.operation, cut.values);
    if (place !== undefined && cut.key.length <= this.maxBytes / 4) {
      this.keep(cut.key, { request, ...place });
    }
    return request;
  }

  private keep(key: string, template: Template): void {
    this.held.set(key, template);
    this.bytes += key.length;
    for (const [oldest] of this.held) {
      if (this.held.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.held.delete(oldest);
      this.bytes -= oldest.length;
    }
  }
}
