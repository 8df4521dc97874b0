/**
 * Splits a vendor catalog (SystemsManagementCatalog) into its top-level children, as text, so
 * that each package can be parsed on its own and the whole catalog never becomes one tree: a
 * 25 MB catalog parsed at once took about 30 times its size in heap. Text is pushed in chunks;
 * only the unfinished package stays buffered.
 *
 * The splitter only finds boundaries; each piece still goes through safe-xml (which refuses
 * DOCTYPE and ENTITY, and limits size, depth and element count). It is strict about the part
 * the pieces do not cover, so that nothing reaches the parser in a way the whole-document
 * parse would have refused: any `<!` declaration anywhere is refused, text outside the root is
 * refused, the root's end tag must match its start tag, and the input must end after it.
 * Each piece gets the root's namespace declarations copied onto its start tag, so that it
 * resolves prefixes exactly as it did inside the catalog.
 */
import { invalidInput, UpcatError } from '../../errors.js';
import { parseXml, type XmlElement } from '../../rules/safe-xml.js';

export interface SplitLimits {
  /** Bytes of the whole catalog: bounds time, since memory no longer grows with it. */
  maxBytes: number;
  /** Characters of one top-level child, and of anything else held between two chunks. */
  maxPieceChars: number;
  /** Element depth, counted from the catalog's root. */
  maxDepth: number;
}

export interface CatalogPiece {
  /** The child element as a document of its own, with the root's namespace declarations. */
  xml: string;
  /** Index among the root's child elements. */
  index: number;
}

/** The longest construct opener (`<![CDATA[`): with fewer characters left we wait for more. */
const LOOKAHEAD = 9;
/** One attribute: `name = "value"` or `name = 'value'` (values cannot hold `<`). */
const ATTRIBUTE = /\s*([^\s=/>]+)\s*=\s*("[^"<]*"|'[^'<]*')/y;
const NAME = /[^\s/>]+/y;

export class CatalogSplitter {
  private buf = '';
  /** Where scanning resumes in `buf`. */
  private pos = 0;
  private depth = 0;
  private bytes = 0;
  private rootName: string | undefined;
  private rootClosed = false;
  /** The root's `xmlns` / `xmlns:p` attributes, as written, by attribute name. */
  private declarations = new Map<string, string>();
  /** Where the child being collected starts in `buf`, while one is. */
  private pieceStart = -1;
  private pieces = 0;
  private first = true;

  /** The root element (its start tag only), once it has been read. */
  root: XmlElement | undefined;

  constructor(private readonly limits: Readonly<SplitLimits>) {}

  /** Adds text; returns the top-level children completed by it, in order. */
  push(chunk: string): CatalogPiece[] {
    let text = chunk;
    if (this.first && text.length > 0) {
      // A byte order mark is not part of the document.
      if (text.startsWith('\uFEFF')) text = text.slice(1);
      this.first = false;
    }
    this.bytes += Buffer.byteLength(text, 'utf8');
    if (this.bytes > this.limits.maxBytes) {
      throw new UpcatError('too_large', `XML is over the limit of ${this.limits.maxBytes} bytes`, {
        details: { limit: this.limits.maxBytes },
      });
    }
    this.buf += text;
    const out: CatalogPiece[] = [];
    this.scan(false, out);
    this.compact();
    return out;
  }

  /** Marks the end of input: the document must be complete. */
  end(): CatalogPiece[] {
    const out: CatalogPiece[] = [];
    this.scan(true, out);
    if (this.rootName === undefined) {
      throw invalidInput('XML document has no root element', { reason: 'empty' });
    }
    if (!this.rootClosed) {
      throw invalidInput(`XML is not well formed: ${this.rootName} is not closed`, {
        reason: 'syntax',
      });
    }
    return out;
  }

  private scan(final: boolean, out: CatalogPiece[]): void {
    const buf = this.buf;
    for (;;) {
      const lt = buf.indexOf('<', this.pos);
      this.checkText(this.pos, lt === -1 ? buf.length : lt);
      if (lt === -1) {
        this.pos = buf.length;
        return;
      }
      this.pos = lt;
      if (!final && buf.length - lt < LOOKAHEAD) return;
      const end = this.construct(lt, out);
      if (end === -1) {
        if (final)
          throw invalidInput('XML is not well formed: unexpected end', { reason: 'syntax' });
        return;
      }
      this.pos = end;
    }
  }

  /** Handles the construct at `lt`; returns where it ends, or -1 when it is not complete. */
  private construct(lt: number, out: CatalogPiece[]): number {
    const buf = this.buf;
    if (buf.startsWith('<!--', lt)) return after(buf, '-->', lt + 4);
    if (buf.startsWith('<?', lt)) return after(buf, '?>', lt + 2);
    if (buf.startsWith('<![CDATA[', lt)) {
      if (this.depth === 0) throw syntax('character data outside the root element');
      return after(buf, ']]>', lt + 9);
    }
    if (buf.startsWith('<!', lt)) {
      // DOCTYPE and ENTITY declarations: never passed on, whatever their place (DESIGN.md §7).
      throw invalidInput('XML must not contain a DOCTYPE or ENTITY declaration', {
        reason: 'doctype',
      });
    }
    const gt = endOfTag(buf, lt + 1);
    if (gt === -1) return -1;
    if (buf[lt + 1] === '/') this.endTag(lt, gt, out);
    else this.startTag(lt, gt, out);
    return gt + 1;
  }

  private startTag(lt: number, gt: number, out: CatalogPiece[]): void {
    if (this.rootClosed) throw syntax('an element after the root element');
    const selfClosing = this.buf[gt - 1] === '/';
    if (this.depth === 0) this.readRoot(this.buf.slice(lt, gt + 1), selfClosing);
    else if (this.depth === 1) {
      this.pieceStart = lt;
      if (selfClosing) this.emit(gt + 1, out);
    }
    if (selfClosing) {
      if (this.depth === 0) this.rootClosed = true;
      return;
    }
    this.depth += 1;
    if (this.depth > this.limits.maxDepth) {
      throw invalidInput(`XML nests elements deeper than ${this.limits.maxDepth}`, {
        reason: 'depth',
      });
    }
  }

  private endTag(lt: number, gt: number, out: CatalogPiece[]): void {
    this.depth -= 1;
    if (this.depth < 0) throw syntax('an end tag without a start tag');
    if (this.depth === 1) this.emit(gt + 1, out);
    else if (this.depth === 0) {
      const name = this.buf.slice(lt + 2, gt).trim();
      if (name !== this.rootName) {
        throw syntax(`end tag ${name} does not match start tag ${this.rootName ?? '?'}`);
      }
      this.rootClosed = true;
    }
  }

  /** Reads the root's start tag: its name, and the declarations its children inherit. */
  private readRoot(tag: string, selfClosing: boolean): void {
    NAME.lastIndex = 1;
    const name = NAME.exec(tag)?.[0] ?? '';
    this.rootName = name;
    // Parsed on its own as an empty element: safe-xml checks its syntax and resolves its name.
    this.root = parseXml(selfClosing ? tag : `${tag.slice(0, -1)}/>`);
    for (const [attribute, value] of attributes(tag, 1 + name.length)) {
      if (attribute === 'xmlns' || attribute.startsWith('xmlns:')) {
        this.declarations.set(attribute, value);
      }
    }
  }

  /** Hands on the child that started at `pieceStart` and ends at `end`. */
  private emit(end: number, out: CatalogPiece[]): void {
    const text = this.buf.slice(this.pieceStart, end);
    this.pieceStart = -1;
    out.push({ xml: this.withDeclarations(text), index: this.pieces });
    this.pieces += 1;
  }

  /** Copies the root's declarations onto the child's start tag, unless it redeclares them. */
  private withDeclarations(text: string): string {
    NAME.lastIndex = 1;
    const name = NAME.exec(text)?.[0] ?? '';
    const own = new Set(attributes(text, 1 + name.length).map(([attribute]) => attribute));
    const inherited = [...this.declarations]
      .filter(([attribute]) => !own.has(attribute))
      .map(([attribute, value]) => ` ${attribute}=${value}`)
      .join('');
    return `${text.slice(0, 1 + name.length)}${inherited}${text.slice(1 + name.length)}`;
  }

  /** Text is only allowed inside the root; white space may surround it. */
  private checkText(from: number, to: number): void {
    if (this.depth > 0 || from >= to) return;
    if (this.buf.slice(from, to).trim() !== '') throw syntax('text outside the root element');
  }

  /** Drops what has been read, except the child being collected; bounds what is held. */
  private compact(): void {
    const keepFrom = this.pieceStart === -1 ? this.pos : this.pieceStart;
    if (keepFrom > 0) {
      this.buf = this.buf.slice(keepFrom);
      this.pos -= keepFrom;
      if (this.pieceStart !== -1) this.pieceStart = 0;
    }
    if (this.buf.length > this.limits.maxPieceChars) {
      throw new UpcatError(
        'too_large',
        `an element of the catalog is over the limit of ${this.limits.maxPieceChars} characters`,
        { details: { limit: this.limits.maxPieceChars } },
      );
    }
  }
}

function syntax(what: string): UpcatError {
  return invalidInput(`XML is not well formed: ${what}`, { reason: 'syntax' });
}

function after(text: string, marker: string, from: number): number {
  const at = text.indexOf(marker, from);
  return at === -1 ? -1 : at + marker.length;
}

/** The `>` that ends the tag starting before `from`; `>` inside quoted values does not count. */
function endOfTag(text: string, from: number): number {
  let quote: string | undefined;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '>') {
      return i;
    } else if (c === '<') {
      throw syntax('"<" inside a tag');
    }
  }
  return -1;
}

/** The attributes of a start tag, from `from` (just after its name), as [name, quoted value]. */
function attributes(tag: string, from: number): [string, string][] {
  const out: [string, string][] = [];
  ATTRIBUTE.lastIndex = from;
  for (let m = ATTRIBUTE.exec(tag); m !== null; m = ATTRIBUTE.exec(tag)) {
    out.push([m[1] as string, m[2] as string]);
  }
  return out;
}

/** The whole text at once (for callers that already hold it). */
export function splitCatalogText(text: string, limits: Readonly<SplitLimits>): CatalogSplit {
  const splitter = new CatalogSplitter(limits);
  const pieces = [...splitter.push(text), ...splitter.end()];
  return { root: splitter.root, pieces };
}

export interface CatalogSplit {
  root: XmlElement | undefined;
  pieces: CatalogPiece[];
}
