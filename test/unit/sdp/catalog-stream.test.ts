/**
 * The vendor catalog is read one package at a time (catalog-split.ts): the pieces must give
 * exactly what the whole-document parse gave, whatever the chunking, and everything the
 * whole-document parse refused must still be refused.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { UpcatError } from '../../../src/errors.js';
import {
  CATALOG_LIMITS,
  importCatalog,
  importCatalogFile,
  importCatalogXml,
  readCatalog,
  sdpToManifest,
  SDP_NAMESPACES,
  type SdpImport,
} from '../../../src/publish/sdp/index.js';
import { CatalogSplitter } from '../../../src/publish/sdp/catalog-split.js';
import { parseXml } from '../../../src/rules/safe-xml.js';
import { buildCatalog } from './catalog-builder.js';

const SMC = SDP_NAMESPACES.smc;
const SDP = SDP_NAMESPACES.sdp;
const LIMITS = { maxBytes: 1 << 20, maxPieceChars: 1 << 16, maxDepth: 16 };

/** What the import did before streaming: the whole document as one tree. */
function wholeDocument(xml: string): SdpImport[] {
  const root = parseXml(xml, { maxBytes: 64 << 20, maxDepth: 256, maxElements: 1_000_000 });
  return root.children
    .filter((c) => c.local === 'SoftwareDistributionPackage')
    .map((c, i) => sdpToManifest(c, `SystemsManagementCatalog.SoftwareDistributionPackage[${i}]`));
}

function inChunks(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

async function collect(source: Iterable<string>): Promise<SdpImport[]> {
  const out: SdpImport[] = [];
  for await (const sdp of readCatalog(source)) out.push(sdp);
  return out;
}

test('streamed packages are the ones the whole-document parse gave', async (t) => {
  const xml = buildCatalog(5, 2);
  const expected = wholeDocument(xml);
  t.is(expected.length, 5);
  t.deepEqual(importCatalog(xml), expected);
  for (const size of [997, 4096, 65_536]) {
    t.deepEqual(await collect(inChunks(xml, size)), expected, `chunks of ${size}`);
  }
});

test('any chunking of a small catalog gives the same pieces, even one character at a time', (t) => {
  const xml =
    '\uFEFF<?xml version="1.0"?>\n<!-- vendor catalog -->\n' +
    `<smc:SystemsManagementCatalog xmlns:smc="${SMC}" xmlns:sdp="${SDP}">` +
    '<smc:SoftwareDistributionPackage a=">" b=\'<!-- not a comment -->\'><![CDATA[</smc:SoftwareDistributionPackage>]]><sdp:Title>x</sdp:Title><!-- </x> --></smc:SoftwareDistributionPackage>' +
    '<?pi here?>\n<smc:Empty/>\n' +
    `<smc:SoftwareDistributionPackage xmlns:sdp="urn:own"><sdp:Title>y</sdp:Title></smc:SoftwareDistributionPackage>` +
    '</smc:SystemsManagementCatalog>\n<!-- after -->\n';
  const split = (size: number) => {
    const splitter = new CatalogSplitter(LIMITS);
    const pieces = inChunks(xml, size).flatMap((c) => splitter.push(c));
    return [...pieces, ...splitter.end()].map((p) => p.xml);
  };
  const whole = split(xml.length);
  t.is(whole.length, 3);
  // The root's declarations are copied on, unless the piece declares the prefix itself.
  t.true(
    whole[0]?.startsWith(
      `<smc:SoftwareDistributionPackage xmlns:smc="${SMC}" xmlns:sdp="${SDP}" a=">"`,
    ),
  );
  t.true(
    whole[2]?.startsWith(
      `<smc:SoftwareDistributionPackage xmlns:smc="${SMC}" xmlns:sdp="urn:own">`,
    ),
  );
  t.is(parseXml(whole[2] ?? '').children[0]?.uri, 'urn:own');
  t.is(parseXml(whole[1] ?? '').local, 'Empty');
  for (const size of [1, 2, 3, 5, 8, 13]) t.deepEqual(split(size), whole, `chunks of ${size}`);
});

test('a catalog with a DOCTYPE is refused, wherever the declaration is', async (t) => {
  const xml = buildCatalog(3);
  const withDoctype = xml.replace(
    '<smc:SystemsManagementCatalog',
    '<!DOCTYPE smc:SystemsManagementCatalog [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<smc:SystemsManagementCatalog',
  );
  const between = xml.replace(
    '\n<smc:SoftwareDistributionPackage',
    '\n<!ENTITY e "x"><smc:SoftwareDistributionPackage',
  );
  const inside = xml.replace('<sdp:Title>', '<sdp:Title><!DOCTYPE x>');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-catalog-'));
  try {
    for (const [name, text] of Object.entries({ withDoctype, between, inside })) {
      const err = await t.throwsAsync(importCatalogXml(text, { dryRun: true }), {
        instanceOf: UpcatError,
      });
      t.is(err?.code, 'invalid_input', name);
      t.regex(err?.message ?? '', /DOCTYPE or ENTITY/, name);
      const file = path.join(dir, `${name}.xml`);
      await writeFile(file, text);
      const fromFile = await t.throwsAsync(importCatalogFile(file, { dryRun: true }), {
        instanceOf: UpcatError,
      });
      t.regex(fromFile?.message ?? '', /DOCTYPE or ENTITY/, name);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('what the whole-document parse refused is still refused', (t) => {
  const head = `<smc:SystemsManagementCatalog xmlns:smc="${SMC}">`;
  const cases: Record<string, [string, RegExp]> = {
    'text before the root': [`junk${head}</smc:SystemsManagementCatalog>`, /text outside/],
    'text after the root': [`${head}</smc:SystemsManagementCatalog>junk`, /text outside/],
    'a second root': [`${head}</smc:SystemsManagementCatalog><a/>`, /after the root/],
    'a wrong end tag': [`${head}</smc:Other>`, /does not match/],
    'no end tag': [`${head}<smc:SoftwareDistributionPackage>`, /unexpected end|not closed/],
    'a broken package': [
      `${head}<smc:SoftwareDistributionPackage><a></b></smc:SoftwareDistributionPackage></smc:SystemsManagementCatalog>`,
      /child element 1: XML is not well formed/,
    ],
    'an undeclared prefix': [
      `${head}<x:SoftwareDistributionPackage/></smc:SystemsManagementCatalog>`,
      /not well formed/,
    ],
    'no root': ['<?xml version="1.0"?>', /no root element/],
  };
  for (const [name, [xml, message]] of Object.entries(cases)) {
    const err = t.throws(() => importCatalog(xml), { instanceOf: UpcatError }, name);
    t.regex(err?.message ?? '', message, name);
  }
});

test('garbage and mutated catalogs only ever give pieces or an UpcatError, whatever the chunking', (t) => {
  const base =
    `<smc:SystemsManagementCatalog xmlns:smc="${SMC}" xmlns:sdp="${SDP}">` +
    `<smc:SoftwareDistributionPackage a="1>2"><sdp:Title>t</sdp:Title><!-- c --></smc:SoftwareDistributionPackage>` +
    `<smc:SoftwareDistributionPackage/></smc:SystemsManagementCatalog>`;
  const bits = fc.constantFrom(
    '<',
    '>',
    '/',
    '"',
    "'",
    '<!--',
    '-->',
    '<![CDATA[',
    ']]>',
    '<?',
    '?>',
    '<!DOCTYPE x>',
    '</smc:SystemsManagementCatalog>',
    '<a>',
    '</a>',
    'x',
    ' ',
  );
  const mutated = fc
    .tuple(fc.nat(), fc.nat(8), fc.array(bits, { maxLength: 4 }))
    .map(([at, cut, insert]) => {
      const i = at % (base.length + 1);
      return base.slice(0, i) + insert.join('') + base.slice(i + cut);
    });
  const documents = fc.oneof(fc.string(), mutated);
  fc.assert(
    fc.property(documents, fc.integer({ min: 1, max: 40 }), (xml, size) => {
      // Chunked and whole reads agree: the same pieces, or both refuse.
      const split = (chunks: string[]): string[] | 'refused' => {
        try {
          const splitter = new CatalogSplitter(LIMITS);
          const pieces = chunks.flatMap((c) => splitter.push(c));
          return [...pieces, ...splitter.end()].map((p) => p.xml);
        } catch (err) {
          if (err instanceof UpcatError) return 'refused';
          throw err;
        }
      };
      t.deepEqual(split(inChunks(xml, size)), split([xml]));
      try {
        importCatalog(xml);
        return true;
      } catch (err) {
        return err instanceof UpcatError;
      }
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test('a single SDP is refused as soon as its root element is read', async (t) => {
  const sdp = `<sdp:SoftwareDistributionPackage xmlns:sdp="${SDP}">`;
  async function* endless(): AsyncGenerator<string> {
    yield sdp;
    for (;;) yield '<sdp:Title>x</sdp:Title>';
  }
  const err = await t.throwsAsync(
    (async () => {
      for await (const sdp of readCatalog(endless())) t.fail(`unexpected ${sdp.title ?? ''}`);
    })(),
    { instanceOf: UpcatError },
  );
  t.regex(err?.message ?? '', /expected an smc:SystemsManagementCatalog/);
});

test('a package over the size limit is refused without being held whole', (t) => {
  const splitter = new CatalogSplitter(LIMITS);
  splitter.push(
    `<smc:SystemsManagementCatalog xmlns:smc="${SMC}"><smc:SoftwareDistributionPackage>`,
  );
  const err = t.throws(
    () => {
      for (let i = 0; i < 100; i++) splitter.push('<a>'.padEnd(4096, ' ') + '</a>');
    },
    { instanceOf: UpcatError },
  );
  t.is(err?.code, 'too_large');
  t.true(CATALOG_LIMITS.maxPackageBytes < CATALOG_LIMITS.maxBytes);
});

test('without a site every readable package is planned; a catalog that cannot be read is refused whole', async (t) => {
  const xml = buildCatalog(4, 4);
  const result = await importCatalogXml(xml, { dryRun: true });
  t.deepEqual(
    result.packages.map((p) => p.status),
    ['planned', 'planned', 'planned', 'planned'],
  );
  const broken = xml.replace(/<\/sdp:Title>(?![\s\S]*<\/sdp:Title>)/, '</sdp:Titl>');
  await t.throwsAsync(importCatalogXml(broken, { dryRun: true }), { instanceOf: UpcatError });
});
