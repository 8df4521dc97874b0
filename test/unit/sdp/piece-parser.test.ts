/**
 * The catalog's per-package parser (piece-parser.ts) gives the tree safe-xml's parseXml gives,
 * and refuses what it refuses: on the real fixtures, on generated catalogs, and on mutations.
 */
import test from 'ava';
import fc from 'fast-check';
import { UpcatError } from '../../../src/errors.js';
import { parsePieceXml } from '../../../src/publish/sdp/piece-parser.js';
import { DEFAULT_XML_LIMITS, parseXml, type XmlElement } from '../../../src/rules/safe-xml.js';
import { packageBody, standaloneSdp } from '../../../bench/vendor-catalog-gen.js';
import { DELL_DRIVER, DELL_MSI, fixture } from './fixtures.js';

type Outcome = { tree: XmlElement } | { refused: string };

function run(parse: (s: string) => XmlElement, text: string): Outcome {
  try {
    return { tree: parse(text) };
  } catch (err) {
    if (!(err instanceof UpcatError)) throw err;
    return { refused: err.code };
  }
}

const fast = (s: string) => parsePieceXml(s, DEFAULT_XML_LIMITS);

test('the same tree as parseXml on the real Dell SDPs and on generated vendor packages', (t) => {
  const docs = [
    fixture(DELL_MSI),
    fixture(DELL_DRIVER),
    standaloneSdp(
      packageBody({ payload: Buffer.from('x'), title: 'A &amp; B <1.0> &#x41;', cves: ['CVE-1'] })
        .xml,
    ),
    '<a xmlns="urn:x" xmlns:p="urn:p"><p:b p:c="1" d="&lt;&#65;"><![CDATA[<raw> & ]]> text</p:b><!-- c --><?pi x?></a>',
    // White space around and between children: blank alone is no text, blank beside text is kept.
    '<a> <b/>\n x <c/>\t<d> </d>y\u00a0<![CDATA[ ]]></a>',
    '<a>\n  <b>  </b>\n  <c><![CDATA[  ]]></c>\n</a>',
    '<a> <![CDATA[z]]> <b/> </a>',
  ];
  for (const doc of docs) t.deepEqual(fast(doc), parseXml(doc));
});

test('refuses what parseXml refuses', (t) => {
  const bad = [
    '<a><b></a>',
    '<a>',
    '<a b="1" b="2"/>',
    '<a b=1/>',
    '<a b="<"/>',
    '<a>&foo;</a>',
    '<a>& b</a>',
    '<p:a/>',
    '<a/><b/>',
    'text<a/>',
    '<!DOCTYPE a><a/>',
    '<a><!ENTITY x "y"></a>',
    '<1a/>',
    '<a:b:c/>',
    '<a>&#0;</a>',
  ];
  for (const doc of bad) {
    t.true('refused' in run(fast, doc), `fast parser refuses ${doc}`);
  }
  // Stricter than xml2js where XML 1.0 is: a repeated attribute (§3.1, "Unique Att Spec") and
  // "<" in an attribute value (§3.1, "No < in Attribute Values"), both of which xml2js lets pass.
  t.true('tree' in run((s) => parseXml(s), '<a b="1" b="2"/>'));
});

test('mutated packages: what parseXml refuses is refused; what is accepted gives the same tree', (t) => {
  const base = fixture(DELL_MSI);
  const alphabet = ['<', '>', '&', '"', "'", '/', ':', '=', ' ', 'x', ';', '!', '?', '-', ']'];
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          at: fc.nat(base.length - 1),
          len: fc.nat(3),
          insert: fc.constantFrom(...alphabet),
        }),
        { minLength: 1, maxLength: 3 },
      ),
      (edits) => {
        let doc = base;
        for (const e of edits) {
          const at = e.at % doc.length;
          doc = doc.slice(0, at) + e.insert + doc.slice(at + e.len);
        }
        const a = run(fast, doc);
        const b = run((s) => parseXml(s), doc);
        if ('tree' in a && 'tree' in b) t.deepEqual(a.tree, b.tree);
        // Never more lenient than parseXml (it may be stricter: see the test above).
        return !('tree' in a) || 'tree' in b;
      },
    ),
    { numRuns: 400, seed: 11 },
  );
});
