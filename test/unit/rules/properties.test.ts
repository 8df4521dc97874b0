import test from 'ava';
import fc from 'fast-check';
import { UpcatError } from '../../../src/errors.js';
import { evaluateRule } from '../../../src/rules/evaluate.js';
import { parseInventory } from '../../../src/rules/inventory.js';
import { parseRuleJson, parseRulePairJson, ruleToJson } from '../../../src/rules/json.js';
import type { Rule } from '../../../src/rules/model.js';
import { parseXml } from '../../../src/rules/safe-xml.js';
import {
  applicabilityRulesToXml,
  parseApplicabilityRulesXml,
  parseRuleXml,
  ruleToXml,
} from '../../../src/rules/xml.js';
import { parseWql } from '../../../src/rules/wql.js';
import { inventory, rule } from './arbitraries.js';

const RUNS = { numRuns: 300 };

/** Runs `fn` and accepts only success or an UpcatError. */
function onlyUpcatErrors(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    return err instanceof UpcatError;
  }
}

test('rule -> JSON -> parse gives the same rule', (t) => {
  fc.assert(
    fc.property(rule(5), (r) => {
      const json = JSON.parse(JSON.stringify(ruleToJson(r))) as unknown;
      t.deepEqual(parseRuleJson(json), r);
    }),
    RUNS,
  );
});

test('rule -> XML -> parse gives the same rule, in both namespace families', (t) => {
  fc.assert(
    fc.property(rule(5), fc.constantFrom('update', 'publishing' as const), (r, family) => {
      const back = parseRuleXml(ruleToXml(r, { family }), { mode: 'import' });
      t.deepEqual(back.rule, r);
    }),
    RUNS,
  );
});

test('rule pair -> XML -> parse gives the same pair', (t) => {
  fc.assert(
    fc.property(
      fc.option(rule(3), { nil: undefined }),
      fc.option(rule(3), { nil: undefined }),
      (a, b) => {
        const pair = { ...(a && { isInstalled: a }), ...(b && { isInstallable: b }) };
        t.deepEqual(
          parseApplicabilityRulesXml(applicabilityRulesToXml(pair), { mode: 'import' }).rules,
          pair,
        );
      },
    ),
    { numRuns: 100 },
  );
});

test('JSON parsers only ever throw UpcatError on random values', (t) => {
  const nearRule = fc.letrec((tie) => ({
    value: fc.oneof(
      fc.anything(),
      fc.dictionary(
        fc.constantFrom('And', 'Or', 'Not', 'True', 'FileExists', 'Unsupported', 'x'),
        tie('value'),
        { maxKeys: 2 },
      ),
      fc.array(tie('value'), { maxLength: 3 }),
    ),
  })).value;
  fc.assert(
    fc.property(nearRule, (v) =>
      [
        () => parseRuleJson(v),
        () => parseRulePairJson(v),
        () => parseRulePairJson({ isInstallable: v }),
        () => parseInventory(v),
      ].every(onlyUpcatErrors),
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

const xmlPieces = fc.constantFrom(
  '<',
  '>',
  '/',
  '"',
  "'",
  '=',
  ' ',
  '&',
  ';',
  '<!DOCTYPE',
  '<!--',
  '-->',
  '<![CDATA[',
  ']]>',
  '<?xml?>',
  'lar:And',
  'bar:FileExists',
  'Path',
  'xmlns:lar="http://schemas.microsoft.com/msus/2002/12/LogicalApplicabilityRules"',
  'xmlns:bar="http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules"',
  '&amp;',
  '&#0;',
  'x',
);

test('XML parsers only ever throw UpcatError on garbage and mutated documents', (t) => {
  const garbage = fc.oneof(
    fc.string(),
    fc.array(xmlPieces, { maxLength: 30 }).map((p) => p.join('')),
    fc.tuple(rule(3), fc.nat(), fc.nat(5), xmlPieces).map(([r, at, cut, insert]) => {
      const xml = ruleToXml(r);
      const i = at % (xml.length + 1);
      return xml.slice(0, i) + insert + xml.slice(i + cut);
    }),
  );
  fc.assert(
    fc.property(garbage, fc.constantFrom('strict', 'import' as const), (xml, mode) =>
      [
        () => parseXml(xml),
        () => parseRuleXml(xml, { mode }),
        () => parseApplicabilityRulesXml(xml, { mode }),
      ].every(onlyUpcatErrors),
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

test('WQL parser never throws', (t) => {
  const wqlPieces = fc.constantFrom(
    'select',
    '*',
    'from',
    'where',
    'and',
    'or',
    'not',
    '(',
    ')',
    "'a'",
    '=',
    'like',
    'X',
    '1',
    ' ',
    '\\',
    "'",
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.array(wqlPieces, { maxLength: 20 }).map((p) => p.join(' ')),
      ),
      (q) => {
        parseWql(q);
      },
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

const evaluate = (r: Rule, inv: Parameters<typeof evaluateRule>[1]) => evaluateRule(r, inv).value;

test('evaluator never throws and follows Kleene logic', (t) => {
  fc.assert(
    fc.property(rule(4), rule(3), inventory, (x, y, inv) => {
      const checked = parseInventory(inv);
      const vx = evaluate(x, checked);
      const vy = evaluate(y, checked);
      const not = (r: Rule): Rule => ({ kind: 'Not', rule: r });
      t.is(evaluate(not(not(x)), checked), vx);
      t.is(evaluate({ kind: 'And', rules: [x, { kind: 'True' }] }, checked), vx);
      t.is(evaluate({ kind: 'Or', rules: [x, { kind: 'False' }] }, checked), vx);
      t.is(evaluate({ kind: 'And', rules: [x, { kind: 'False' }] }, checked), false);
      t.is(evaluate({ kind: 'Or', rules: [x, { kind: 'True' }] }, checked), true);
      // De Morgan: not(x and y) == (not x) or (not y)
      t.is(
        evaluate(not({ kind: 'And', rules: [x, y] }), checked),
        evaluate({ kind: 'Or', rules: [not(x), not(y)] }, checked),
      );
      t.is(
        evaluate({ kind: 'And', rules: [x, y] }, checked),
        evaluate({ kind: 'And', rules: [y, x] }, checked),
      );
      if (vx !== 'unknown' && vy !== 'unknown') {
        t.is(evaluate({ kind: 'Or', rules: [x, y] }, checked), vx || vy);
      }
    }),
    RUNS,
  );
});
