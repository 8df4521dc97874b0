/**
 * The subset of WQL that WmiQuery rules use: `SELECT * | props FROM Class [WHERE cond]`, with
 * =, <>, !=, <, <=, >, >=, [NOT] LIKE (% and _), IS [NOT] NULL, AND, OR, NOT, parentheses,
 * string, number, TRUE / FALSE / NULL literals. Strings compare case-insensitively, as WMI
 * does. A query outside the subset is not an error: it parses to `{ ok: false }` and the rule
 * evaluates to unknown. Parsing is linear and bounded, so no query can hang the evaluator.
 */
import { triAnd, triNot, triOr, type Tri } from './tri.js';

export type WqlLiteral = string | number | boolean | null;
export type WqlOperator = '=' | '<>' | '<' | '<=' | '>' | '>=';

export type WqlCondition =
  | { type: 'and' | 'or'; left: WqlCondition; right: WqlCondition }
  | { type: 'not'; operand: WqlCondition }
  | { type: 'compare'; property: string; operator: WqlOperator; value: WqlLiteral }
  | { type: 'like'; property: string; pattern: string; negated: boolean }
  | { type: 'isNull'; property: string; negated: boolean };

export interface WqlQuery {
  className: string;
  where?: WqlCondition;
}

export type WqlParseResult = { ok: true; query: WqlQuery } | { ok: false; reason: string };

const MAX_QUERY_LENGTH = 16384;
const MAX_NESTING = 64;

type Token =
  | { kind: 'word'; text: string }
  | { kind: 'string'; text: string }
  | { kind: 'number'; value: number }
  | { kind: 'symbol'; text: string };

class Unsupported extends Error {}

export function parseWql(text: string): WqlParseResult {
  try {
    if (text.length > MAX_QUERY_LENGTH) throw new Unsupported('query too long');
    return { ok: true, query: new Parser(tokenize(text)).query() };
  } catch (err) {
    if (err instanceof Unsupported) return { ok: false, reason: err.message };
    throw err;
  }
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const pattern =
    /(?:([A-Za-z_][A-Za-z0-9_]*)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?)(?![A-Za-z_])|(<>|!=|<=|>=|[=<>(),*]))/y;
  let at = 0;
  for (;;) {
    while (at < text.length && /\s/.test(text[at] as string)) at += 1;
    if (at >= text.length) break;
    pattern.lastIndex = at;
    const m = pattern.exec(text);
    if (m === null) throw new Unsupported(`unexpected character at ${at}`);
    at = pattern.lastIndex;
    if (m[1] !== undefined) tokens.push({ kind: 'word', text: m[1] });
    else if (m[2] !== undefined) tokens.push({ kind: 'string', text: unescape(m[2]) });
    else if (m[3] !== undefined) tokens.push({ kind: 'string', text: unescape(m[3]) });
    else if (m[4] !== undefined) tokens.push({ kind: 'number', value: Number(m[4]) });
    else tokens.push({ kind: 'symbol', text: m[5] === '!=' ? '<>' : (m[5] as string) });
  }
  return tokens;
}

/** WQL strings escape with a backslash ('C:\\Windows', 'O\'Brien'). */
function unescape(text: string): string {
  return text.replace(/\\(.)/gs, '$1');
}

const KEYWORDS = new Set(['select', 'from', 'where', 'and', 'or', 'not', 'like', 'is', 'null']);

class Parser {
  private at = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  query(): WqlQuery {
    this.keyword('select');
    if (!this.symbol('*')) {
      do this.identifier();
      while (this.symbol(','));
    }
    this.keyword('from');
    const query: WqlQuery = { className: this.identifier() };
    if (this.isKeyword('where')) {
      this.at += 1;
      query.where = this.or();
    }
    if (this.at < this.tokens.length) throw new Unsupported('unexpected text after the query');
    return query;
  }

  private or(): WqlCondition {
    let left = this.and();
    while (this.isKeyword('or')) {
      this.at += 1;
      left = { type: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): WqlCondition {
    let left = this.not();
    while (this.isKeyword('and')) {
      this.at += 1;
      left = { type: 'and', left, right: this.not() };
    }
    return left;
  }

  private not(): WqlCondition {
    if (++this.depth > MAX_NESTING) throw new Unsupported('conditions nest too deeply');
    try {
      if (this.isKeyword('not')) {
        this.at += 1;
        return { type: 'not', operand: this.not() };
      }
      if (this.symbol('(')) {
        const inner = this.or();
        if (!this.symbol(')')) throw new Unsupported('missing )');
        return inner;
      }
      return this.predicate();
    } finally {
      this.depth -= 1;
    }
  }

  private predicate(): WqlCondition {
    const property = this.identifier();
    if (this.isKeyword('is')) {
      this.at += 1;
      const negated = this.isKeyword('not');
      if (negated) this.at += 1;
      this.keyword('null');
      return { type: 'isNull', property, negated };
    }
    const negated = this.isKeyword('not');
    if (negated) this.at += 1;
    if (this.isKeyword('like')) {
      this.at += 1;
      const token = this.tokens[this.at++];
      if (token?.kind !== 'string') throw new Unsupported('LIKE needs a string pattern');
      if (token.text.includes('[')) throw new Unsupported('LIKE character sets are not supported');
      return { type: 'like', property, pattern: token.text, negated };
    }
    if (negated) throw new Unsupported('NOT must be followed by LIKE here');
    const operator = this.tokens[this.at++];
    if (operator?.kind !== 'symbol' || !['=', '<>', '<', '<=', '>', '>='].includes(operator.text)) {
      throw new Unsupported('expected a comparison operator');
    }
    return {
      type: 'compare',
      property,
      operator: operator.text as WqlOperator,
      value: this.literal(),
    };
  }

  private literal(): WqlLiteral {
    const token = this.tokens[this.at++];
    if (token?.kind === 'string') return token.text;
    if (token?.kind === 'number') return token.value;
    if (token?.kind === 'word') {
      const word = token.text.toLowerCase();
      if (word === 'true' || word === 'false') return word === 'true';
      if (word === 'null') return null;
    }
    throw new Unsupported('expected a literal value');
  }

  private identifier(): string {
    const token = this.tokens[this.at++];
    if (token?.kind !== 'word' || KEYWORDS.has(token.text.toLowerCase())) {
      throw new Unsupported('expected a name');
    }
    return token.text;
  }

  private isKeyword(word: string): boolean {
    const token = this.tokens[this.at];
    return token?.kind === 'word' && token.text.toLowerCase() === word;
  }

  private keyword(word: string): void {
    if (!this.isKeyword(word)) throw new Unsupported(`expected ${word.toUpperCase()}`);
    this.at += 1;
  }

  private symbol(text: string): boolean {
    const token = this.tokens[this.at];
    if (token?.kind !== 'symbol' || token.text !== text) return false;
    this.at += 1;
    return true;
  }
}

export type WmiValue = string | number | boolean | null;

/** True when at least one instance matches; unknown when none does but some cannot tell. */
export function evaluateWql(query: WqlQuery, instances: readonly Record<string, WmiValue>[]): Tri {
  return triOr(instances.map((i) => (query.where === undefined ? true : matches(query.where, i))));
}

/** A property the instance does not carry is unknown (not collected); null is a real NULL. */
export function matches(condition: WqlCondition, instance: Record<string, WmiValue>): Tri {
  switch (condition.type) {
    case 'and':
      return triAnd([matches(condition.left, instance), matches(condition.right, instance)]);
    case 'or':
      return triOr([matches(condition.left, instance), matches(condition.right, instance)]);
    case 'not':
      return triNot(matches(condition.operand, instance));
    default: {
      const found = property(instance, condition.property);
      if (found === undefined) return 'unknown';
      const value = found.value;
      if (condition.type === 'isNull') return (value === null) !== condition.negated;
      if (condition.type === 'like') {
        if (value === null) return false;
        return likeMatches(String(value), condition.pattern) !== condition.negated;
      }
      return compare(value, condition.operator, condition.value);
    }
  }
}

function property(
  instance: Record<string, WmiValue>,
  name: string,
): { value: WmiValue } | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(instance)) {
    if (key.toLowerCase() === wanted) return { value };
  }
  return undefined;
}

function compare(value: WmiValue, operator: WqlOperator, literal: WqlLiteral): boolean {
  if (value === null || literal === null) {
    // WQL allows `Prop = NULL` as a spelling of IS NULL; any other comparison with NULL fails.
    if (operator === '=') return value === literal;
    if (operator === '<>') return (value === null) !== (literal === null);
    return false;
  }
  const order = orderOf(value, literal);
  switch (operator) {
    case '=':
      return order === 0;
    case '<>':
      return order !== 0;
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
  }
}

/** Numbers compare as numbers when both sides are numeric, otherwise as case-folded text. */
function orderOf(value: string | number | boolean, literal: string | number | boolean): number {
  const a = typeof value === 'boolean' ? Number(value) : value;
  const b = typeof literal === 'boolean' ? Number(literal) : literal;
  const x = typeof a === 'number' ? a : numeric(a);
  const y = typeof b === 'number' ? b : numeric(b);
  if ((typeof a === 'number' || typeof b === 'number') && x !== undefined && y !== undefined) {
    return Math.sign(x - y);
  }
  const s = String(value).toLowerCase();
  const t = String(literal).toLowerCase();
  return s === t ? 0 : s < t ? -1 : 1;
}

function numeric(text: string): number | undefined {
  return /^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : undefined;
}

/** LIKE with % (any run) and _ (one character), case-insensitive; O(n·m), never exponential. */
export function likeMatches(text: string, pattern: string): boolean {
  const s = [...text.toLowerCase()];
  const p = [...pattern.toLowerCase()];
  let i = 0;
  let j = 0;
  let star = -1;
  let mark = 0;
  while (i < s.length) {
    if (j < p.length && (p[j] === '_' || (p[j] !== '%' && p[j] === s[i]))) {
      i += 1;
      j += 1;
    } else if (j < p.length && p[j] === '%') {
      star = j++;
      mark = i;
    } else if (star !== -1) {
      j = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (j < p.length && p[j] === '%') j += 1;
  return j === p.length;
}
