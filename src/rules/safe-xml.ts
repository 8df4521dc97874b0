/**
 * XML from outside, parsed safely (DESIGN.md §7): any DOCTYPE or ENTITY declaration is refused
 * before the parser sees the text, so no entity is ever declared, expanded or fetched (billion
 * laughs, external entities); size, element depth and element count are limited by a cheap scan
 * first, so the parser and the recursive code after it only ever see bounded input.
 * The result is a small namespace-resolved tree that other modules (SDP import) can reuse.
 */
import { parseString, type ParserOptions } from 'xml2js';
import { invalidInput, UpcatError } from '../errors.js';
import { XMLNS_NAMESPACE } from './namespaces.js';

export interface XmlAttribute {
  local: string;
  /** Namespace URI; '' for an unqualified attribute. */
  uri: string;
  value: string;
}

export interface XmlElement {
  local: string;
  /** Namespace URI; '' when the element is in no namespace. */
  uri: string;
  /** Prefix as written, for messages only: never use it to decide meaning. */
  prefix: string;
  /** Attributes without the xmlns declarations. */
  attributes: XmlAttribute[];
  children: XmlElement[];
  /** Text directly inside the element, white space only counted as none. */
  text: string;
}

export interface XmlLimits {
  maxBytes: number;
  maxDepth: number;
  maxElements: number;
}

export const DEFAULT_XML_LIMITS: Readonly<XmlLimits> = {
  maxBytes: 16 * 1024 * 1024,
  maxDepth: 128,
  maxElements: 200_000,
};

/** Parses a whole document and returns its root element. Throws UpcatError only. */
export function parseXml(text: string, limits: Partial<XmlLimits> = {}): XmlElement {
  const bounds = { ...DEFAULT_XML_LIMITS, ...limits };
  checkXmlSafety(text, bounds);
  return toElement(runXml2js(text));
}

/** Refuses declarations and input over the limits, without parsing. */
export function checkXmlSafety(text: string, limits: Readonly<XmlLimits> = DEFAULT_XML_LIMITS) {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxBytes) {
    throw new UpcatError(
      'too_large',
      `XML is ${bytes} bytes, over the limit of ${limits.maxBytes}`,
      {
        details: { limit: limits.maxBytes },
      },
    );
  }
  if (/<!\s*(DOCTYPE|ENTITY)/i.test(text)) {
    throw invalidInput('XML must not contain a DOCTYPE or ENTITY declaration', {
      reason: 'doctype',
    });
  }
  scanStructure(text, limits);
}

/** Counts elements and depth; `>` inside quoted attribute values does not end a tag. */
function scanStructure(text: string, limits: Readonly<XmlLimits>): void {
  let depth = 0;
  let elements = 0;
  let i = text.indexOf('<');
  while (i !== -1 && i < text.length) {
    if (text.startsWith('<!--', i)) {
      i = skipPast(text, '-->', i + 4);
    } else if (text.startsWith('<![CDATA[', i)) {
      i = skipPast(text, ']]>', i + 9);
    } else if (text.startsWith('<?', i)) {
      i = skipPast(text, '?>', i + 2);
    } else if (text.startsWith('<!', i)) {
      throw invalidInput('XML must not contain declarations (<!...>)', { reason: 'doctype' });
    } else if (text.startsWith('</', i)) {
      depth -= 1;
      i = skipPast(text, '>', i + 2);
    } else {
      const end = endOfTag(text, i + 1);
      elements += 1;
      if (text[end - 1] !== '/') depth += 1;
      if (depth > limits.maxDepth) {
        throw invalidInput(`XML nests elements deeper than ${limits.maxDepth}`, {
          reason: 'depth',
        });
      }
      if (elements > limits.maxElements) {
        throw invalidInput(`XML has more than ${limits.maxElements} elements`, {
          reason: 'elements',
        });
      }
      i = end + 1;
    }
    i = text.indexOf('<', i);
  }
}

function skipPast(text: string, marker: string, from: number): number {
  const at = text.indexOf(marker, from);
  return at === -1 ? text.length : at + marker.length;
}

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
    }
  }
  return text.length;
}

const OPTIONS: ParserOptions = {
  xmlns: true,
  explicitRoot: true,
  explicitArray: true,
  explicitChildren: true,
  preserveChildrenOrder: true,
  explicitCharkey: true,
  charkey: '_',
  includeWhiteChars: false,
  trim: false,
  normalize: false,
  strict: true,
  async: false,
};

/** xml2js calls back synchronously when `async` is false; the callback only records. */
function runXml2js(text: string): RawNode {
  let failure: unknown;
  let result: unknown;
  try {
    parseString(text, OPTIONS, (err: Error | null, parsed: unknown) => {
      failure = err ?? undefined;
      result = parsed;
    });
  } catch (err) {
    failure = err;
  }
  if (failure !== undefined) {
    const message = failure instanceof Error ? failure.message.split('\n')[0] : String(failure);
    throw invalidInput(`XML is not well formed: ${message}`, { reason: 'syntax' });
  }
  const root = isObject(result) ? Object.values(result)[0] : undefined;
  if (!isObject(root)) throw invalidInput('XML document has no root element', { reason: 'empty' });
  return root;
}

type RawNode = Record<string, unknown>;

function isObject(value: unknown): value is RawNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toElement(node: RawNode): XmlElement {
  const ns = isObject(node.$ns) ? node.$ns : {};
  const qname = typeof node['#name'] === 'string' ? node['#name'] : '';
  const colon = qname.indexOf(':');
  const rawAttrs = isObject(node.$) ? Object.values(node.$) : [];
  const rawChildren = Array.isArray(node.$$) ? node.$$ : [];
  const text = typeof node._ === 'string' && node._.trim() !== '' ? node._ : '';
  return {
    local: typeof ns.local === 'string' ? ns.local : qname,
    uri: typeof ns.uri === 'string' ? ns.uri : '',
    prefix: colon === -1 ? '' : qname.slice(0, colon),
    attributes: rawAttrs.filter(isObject).flatMap(toAttribute),
    children: rawChildren.filter(isObject).map(toElement),
    text,
  };
}

function toAttribute(raw: RawNode): XmlAttribute[] {
  const uri = typeof raw.uri === 'string' ? raw.uri : '';
  if (uri === XMLNS_NAMESPACE || raw.name === 'xmlns') return [];
  return [
    {
      local: typeof raw.local === 'string' ? raw.local : String(raw.name),
      uri,
      value: typeof raw.value === 'string' ? raw.value : '',
    },
  ];
}

/** How an element is named in messages: as written in the document. */
export function displayName(element: Pick<XmlElement, 'prefix' | 'local'>): string {
  return element.prefix === '' ? element.local : `${element.prefix}:${element.local}`;
}
