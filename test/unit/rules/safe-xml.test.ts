import test from 'ava';
import { UpcatError } from '../../../src/errors.js';
import { parseXml } from '../../../src/rules/safe-xml.js';
import { parseRuleXml } from '../../../src/rules/xml.js';

const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>`;

const externalEntity = `<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<foo>&xxe;</foo>`;

test('billion laughs and external entities are refused before parsing', (t) => {
  for (const xml of [billionLaughs, externalEntity, '<!doctype x><x/>', '<x/><!ENTITY a "b">']) {
    const err = t.throws(() => parseXml(xml), { instanceOf: UpcatError });
    t.is(err?.code, 'invalid_input');
    t.regex(err?.message ?? '', /DOCTYPE or ENTITY/);
  }
  t.throws(() => parseRuleXml(externalEntity), { instanceOf: UpcatError, message: /DOCTYPE/ });
});

test('other <! declarations are refused; comments and CDATA are fine', (t) => {
  t.throws(() => parseXml('<x><!ELEMENT y ANY></x>'), { message: /declarations/ });
  const x = parseXml('<?xml version="1.0"?><!-- <a><b> --><x a="1 > 0"><![CDATA[<y>]]></x>');
  t.is(x.local, 'x');
  t.is(x.text, '<y>');
  t.deepEqual(x.attributes, [{ local: 'a', uri: '', value: '1 > 0' }]);
});

test('size, depth and element count are limited', (t) => {
  const big = t.throws(() => parseXml(`<x>${'a'.repeat(2000)}</x>`, { maxBytes: 1000 }), {
    instanceOf: UpcatError,
  });
  t.is(big?.code, 'too_large');
  const deep = '<a>'.repeat(200) + '</a>'.repeat(200);
  t.throws(() => parseXml(deep), { message: /deeper than 128/ });
  t.is(parseXml(deep, { maxDepth: 200 }).local, 'a');
  t.throws(() => parseXml(`<a>${'<b/>'.repeat(50)}</a>`, { maxElements: 10 }), {
    message: /more than 10 elements/,
  });
  const wide = `<a>${'<b/>'.repeat(100_000)}</a>`;
  t.is(parseXml(wide).children.length, 100_000);
});

test('malformed XML is a coded error', (t) => {
  for (const xml of ['', '<a>', '<a></b>', 'text', '<a:b/>', '<a>&nope;</a>']) {
    const err = t.throws(() => parseXml(xml), { instanceOf: UpcatError }, xml);
    t.is(err?.code, 'invalid_input');
  }
});

test('namespaces are resolved by URI and xmlns declarations dropped', (t) => {
  const x = parseXml('<p:a xmlns:p="urn:p" xmlns="urn:d" q="1"><b p:r="2">t</b></p:a>');
  t.is(x.uri, 'urn:p');
  t.is(x.prefix, 'p');
  t.deepEqual(x.attributes, [{ local: 'q', uri: '', value: '1' }]);
  const b = x.children[0];
  t.is(b?.uri, 'urn:d');
  t.deepEqual(b?.attributes, [{ local: 'r', uri: 'urn:p', value: '2' }]);
  t.is(b?.text, 't');
});
