/**
 * A small strict XML parser for one package of a vendor catalog (issue 11 item 4: xml2js took
 * about half of an import's time). It builds the same namespace-resolved tree as safe-xml's
 * `parseXml` (src/rules/safe-xml.ts) for the documents the splitter hands over, and refuses
 * what that parser refuses: mismatched or unclosed tags, bad names, malformed or duplicated
 * attributes, `<` in an attribute value, unknown entity references and bare `&`, unbound
 * namespace prefixes, text or elements outside the root. DOCTYPE and ENTITY declarations
 * (any `<!` that is not a comment or CDATA) are refused before anything else, so no entity is
 * ever declared or expanded (DESIGN.md §7). Depth and element count are bounded as in safe-xml.
 * XML 1.0 §2.3 (names), §2.4 (character data), §2.5 (comments), §2.7 (CDATA), §3.1 (tags),
 * §4.1 (character and predefined entity references); Namespaces in XML 1.0 §3, §5.
 */
import { invalidInput, UpcatError } from '../../errors.js';
import type { XmlAttribute, XmlElement, XmlLimits } from '../../rules/safe-xml.js';

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const NAME = /^[A-Za-z_\u00C0-\uFFFF][A-Za-z0-9_.\-\u00B7-\uFFFF]*$/;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

interface Open {
  element: XmlElement;
  qname: string;
  /** Namespace bindings in scope, by prefix ('' = default namespace). */
  scope: Map<string, string>;
  /** Character data up to the last segment that is not all white space. */
  text: string[];
  /**
   * White-space-only segments since then: kept apart so that the indentation between child
   * elements (most segments) costs nothing unless real text follows it.
   */
  blank: string[];
}

/** The same test as `text.trim() === ''`, without making a string. */
const NOT_BLANK = /\S/;

export function parsePieceXml(source: string, limits: Readonly<XmlLimits>): XmlElement {
  if (source.length > limits.maxBytes && Buffer.byteLength(source, 'utf8') > limits.maxBytes) {
    throw new UpcatError('too_large', `XML is over the limit of ${limits.maxBytes} bytes`, {
      details: { limit: limits.maxBytes },
    });
  }
  return new PieceParser(source, limits).parse();
}

class PieceParser {
  private pos = 0;
  private readonly stack: Open[] = [];
  private root: XmlElement | undefined;
  private elements = 0;

  constructor(
    private readonly s: string,
    private readonly limits: Readonly<XmlLimits>,
  ) {}

  parse(): XmlElement {
    const s = this.s;
    if (s.charCodeAt(0) === 0xfeff) this.pos = 1;
    while (this.pos < s.length) {
      const lt = s.indexOf('<', this.pos);
      this.text(this.pos, lt === -1 ? s.length : lt);
      if (lt === -1) break;
      this.pos = lt;
      this.markup();
    }
    if (this.stack.length > 0) syntax(`${this.stack[this.stack.length - 1]?.qname} is not closed`);
    if (this.root === undefined)
      throw invalidInput('XML document has no root element', { reason: 'empty' });
    return this.root;
  }

  private markup(): void {
    const s = this.s;
    const at = this.pos;
    if (s.startsWith('<!--', at)) {
      this.pos = past(s, '-->', at + 4, 'comment');
    } else if (s.startsWith('<![CDATA[', at)) {
      const end = past(s, ']]>', at + 9, 'CDATA section');
      const top = this.stack[this.stack.length - 1];
      if (top === undefined) syntax('character data outside the root element');
      addText(top, s.slice(at + 9, end - 3));
      this.pos = end;
    } else if (s.startsWith('<?', at)) {
      this.pos = past(s, '?>', at + 2, 'processing instruction');
    } else if (s.startsWith('<!', at)) {
      throw invalidInput('XML must not contain a DOCTYPE or ENTITY declaration', {
        reason: 'doctype',
      });
    } else if (s.startsWith('</', at)) {
      this.endTag();
    } else {
      this.startTag();
    }
  }

  private text(from: number, to: number): void {
    if (from >= to) return;
    const raw = this.s.slice(from, to);
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) {
      if (raw.trim() !== '') syntax('text outside the root element');
      return;
    }
    if (raw.includes('>') && raw.includes(']]>')) syntax('"]]>" in character data');
    addText(top, decode(raw));
  }

  private startTag(): void {
    const s = this.s;
    if (this.root !== undefined && this.stack.length === 0)
      syntax('an element after the root element');
    let i = this.pos + 1;
    const nameEnd = scanName(s, i);
    const qname = s.slice(i, nameEnd);
    if (!isQName(qname)) syntax(`bad element name "${qname}"`);
    i = nameEnd;
    const raw: Array<[string, string]> = [];
    let selfClosing = false;
    for (;;) {
      const ws = i;
      while (isSpace(s.charCodeAt(i))) i++;
      const c = s[i];
      if (c === undefined) syntax(`${qname}: unexpected end inside a tag`);
      if (c === '>') {
        i++;
        break;
      }
      if (c === '/' && s[i + 1] === '>') {
        selfClosing = true;
        i += 2;
        break;
      }
      if (ws === i) syntax(`${qname}: attributes must be separated by white space`);
      const attrEnd = scanName(s, i);
      const name = s.slice(i, attrEnd);
      if (!isQName(name)) syntax(`${qname}: bad attribute name "${name}"`);
      i = attrEnd;
      while (isSpace(s.charCodeAt(i))) i++;
      if (s[i] !== '=') syntax(`${qname}: attribute ${name} has no value`);
      i++;
      while (isSpace(s.charCodeAt(i))) i++;
      const quote = s[i];
      if (quote !== '"' && quote !== "'") syntax(`${qname}: attribute ${name} is not quoted`);
      const close = s.indexOf(quote, i + 1);
      if (close === -1) syntax(`${qname}: attribute ${name} is not closed`);
      const value = s.slice(i + 1, close);
      if (value.includes('<')) syntax(`${qname}: "<" in the value of ${name}`);
      if (raw.some(([n]) => n === name)) syntax(`${qname}: attribute ${name} is given twice`);
      raw.push([name, decode(value)]);
      i = close + 1;
    }
    this.pos = i;
    this.open(qname, raw, selfClosing);
  }

  private open(qname: string, raw: Array<[string, string]>, selfClosing: boolean): void {
    this.elements += 1;
    if (this.elements > this.limits.maxElements) {
      throw invalidInput(`XML has more than ${this.limits.maxElements} elements`, {
        reason: 'elements',
      });
    }
    const parent = this.stack[this.stack.length - 1];
    let scope = parent?.scope ?? new Map<string, string>([['xml', XML_NS]]);
    const declarations = raw.filter(([n]) => n === 'xmlns' || n.startsWith('xmlns:'));
    if (declarations.length > 0) {
      scope = new Map(scope);
      for (const [n, v] of declarations) {
        const prefix = n === 'xmlns' ? '' : n.slice(6);
        if (prefix !== '' && v === '')
          syntax(`${qname}: prefix ${prefix} bound to an empty namespace`);
        scope.set(prefix, v);
      }
    }
    const [prefix, local] = split(qname);
    const uri = scope.get(prefix);
    if (uri === undefined && prefix !== '')
      syntax(`unbound namespace prefix "${prefix}" on ${qname}`);
    const attributes: XmlAttribute[] = [];
    for (const [n, value] of raw) {
      if (n === 'xmlns' || n.startsWith('xmlns:')) continue;
      const [p, l] = split(n);
      const attrUri = p === '' ? '' : scope.get(p);
      if (attrUri === undefined) syntax(`unbound namespace prefix "${p}" on attribute ${n}`);
      if (attributes.some((a) => a.local === l && a.uri === attrUri)) {
        syntax(`${qname}: attribute ${l} is given twice`);
      }
      attributes.push({ local: l, uri: attrUri, value });
    }
    const element: XmlElement = {
      local,
      uri: uri ?? '',
      prefix,
      attributes,
      children: [],
      text: '',
    };
    if (parent === undefined) this.root = element;
    else parent.element.children.push(element);
    if (selfClosing) return;
    if (this.stack.length + 1 > this.limits.maxDepth) {
      throw invalidInput(`XML nests elements deeper than ${this.limits.maxDepth}`, {
        reason: 'depth',
      });
    }
    this.stack.push({ element, qname, scope, text: [], blank: [] });
  }

  private endTag(): void {
    const s = this.s;
    const gt = s.indexOf('>', this.pos + 2);
    if (gt === -1) syntax('unexpected end inside an end tag');
    const name = s.slice(this.pos + 2, gt).trimEnd();
    const top = this.stack.pop();
    if (top === undefined) syntax(`end tag ${name} without a start tag`);
    if (top.qname !== name) syntax(`end tag ${name} does not match start tag ${top.qname}`);
    // Text that is all white space is no text; otherwise every segment counts, blank ones too.
    top.element.text = top.text.length === 0 ? '' : [...top.text, ...top.blank].join('');
    this.pos = gt + 1;
  }
}

function addText(open: Open, segment: string): void {
  if (!NOT_BLANK.test(segment)) {
    open.blank.push(segment);
    return;
  }
  if (open.blank.length > 0) {
    open.text.push(...open.blank);
    open.blank.length = 0;
  }
  open.text.push(segment);
}

function syntax(what: string): never {
  throw invalidInput(`XML is not well formed: ${what}`, { reason: 'syntax' });
}

function past(s: string, marker: string, from: number, what: string): number {
  const at = s.indexOf(marker, from);
  if (at === -1) syntax(`${what} is not closed`);
  return at + marker.length;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Where a name that starts at `from` ends: at white space, `=`, `/`, `>` or the end. */
function scanName(s: string, from: number): number {
  let i = from;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isSpace(c) || c === 0x3d || c === 0x2f || c === 0x3e || c === 0x3c) break;
  }
  return i;
}

/**
 * Names already found valid. A catalog repeats a few hundred element and attribute names
 * thousands of times each, and testing them again was ~4% of a dry run's CPU. Bounded, so a
 * hostile document of distinct names cannot grow it.
 */
const validNames = new Set<string>();
const MAX_VALID_NAMES = 4096;

function isQName(name: string): boolean {
  if (validNames.has(name)) return true;
  const parts = name.split(':');
  const valid = parts.length <= 2 && parts.every((p) => NAME.test(p));
  if (valid && validNames.size < MAX_VALID_NAMES) validNames.add(name);
  return valid;
}

function split(qname: string): [string, string] {
  const colon = qname.indexOf(':');
  return colon === -1 ? ['', qname] : [qname.slice(0, colon), qname.slice(colon + 1)];
}

/** Character and predefined entity references (XML 1.0 §4.1, §4.6); anything else is refused. */
function decode(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&\s<]*)(;?)/g, (_, body: string, semi: string) => {
    if (semi !== ';') syntax('"&" that starts no entity reference');
    const named = PREDEFINED[body];
    if (named !== undefined) return named;
    const m = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(body);
    if (m === null) syntax(`unknown entity &${body};`);
    const code = m[1] !== undefined ? parseInt(m[1], 16) : Number(m[2]);
    const valid =
      code === 0x9 ||
      code === 0xa ||
      code === 0xd ||
      (code >= 0x20 && code <= 0xd7ff) ||
      (code >= 0xe000 && code <= 0xfffd) ||
      (code >= 0x10000 && code <= 0x10ffff);
    if (!valid) syntax(`character reference &${body}; names no XML character`);
    return String.fromCodePoint(code);
  });
}
