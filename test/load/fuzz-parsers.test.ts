import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { isUpcatError } from '../../src/errors.js';
import { parseManifest } from '../../src/catalog/manifest.js';
import { parseRevisionDocument } from '../../src/catalog/update-xml-model.js';
import { parsePackageManifest } from '../../src/publish/package-manifest.js';
import { parsePieceXml } from '../../src/publish/sdp/piece-parser.js';
import { readPropertyTable } from '../../src/publish/msi.js';
import { parseInventory } from '../../src/rules/inventory.js';
import { parseRuleJson, parseRulePairJson } from '../../src/rules/json.js';
import { DEFAULT_XML_LIMITS, parseXml } from '../../src/rules/safe-xml.js';
import { parseApplicabilityRulesXml, parseRuleXml } from '../../src/rules/xml.js';
import { parseWql } from '../../src/rules/wql.js';
import { parsePropertyFlags } from '../../src/agent/properties.js';
import { parseRegQuery } from '../../src/agent/inventory/windows-registry.js';
import { parseOsRelease } from '../../src/agent/inventory/linux.js';
import { parseKeyKind } from '../../src/signing/signer.js';
import { parseEnvelope, WuspFault } from '../../src/windows/wusp/soap.js';
import { readCab } from '../../src/windows/cab/reader.js';
import { verifyCabBytes } from '../../src/windows/authenticode/cab-verify.js';

/**
 * Every parser of outside input (issue 13 item 8), fed arbitrary and near-valid input: each
 * either returns or refuses with a coded UpcatError (a SOAP parser: a WuspFault), never a
 * TypeError, RangeError or other crash, and never hangs (AVA's timeout bounds the run). Case
 * counts are fixed so the file runs in about a minute on a loaded 2-core machine.
 */
const RUNS = 300;

const refusalOk = (err: unknown): boolean => isUpcatError(err) || err instanceof WuspFault;

function check(name: string, parse: (input: never) => unknown, input: fc.Arbitrary<unknown>) {
  test(`fuzz: ${name} returns or refuses with a coded error`, (t) => {
    const crashes: string[] = [];
    fc.assert(
      fc.property(input, (value) => {
        try {
          parse(value as never);
        } catch (err) {
          if (!refusalOk(err))
            crashes.push(`${String(err)} on ${JSON.stringify(value)?.slice(0, 200)}`);
        }
      }),
      { numRuns: RUNS, seed: 13 },
    );
    t.deepEqual(crashes.slice(0, 5), [], `${crashes.length} uncoded errors`);
  });
}

/** Arbitrary JSON, plus objects that carry the field names a parser looks for. */
const jsonish = (fields: string[]): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.jsonValue(),
    fc.dictionary(fc.constantFrom(...fields), fc.jsonValue(), { maxKeys: fields.length }),
    fc.dictionary(
      fc.constantFrom(...fields),
      fc.oneof(
        fc.string(),
        fc.integer(),
        fc.constant(null),
        fc.dictionary(fc.constantFrom(...fields), fc.jsonValue()),
      ),
    ),
  );

const XML_BITS = [
  '<',
  '>',
  '</',
  '/>',
  '<?xml version="1.0"?>',
  '<!DOCTYPE x [<!ENTITY e "x">]>',
  '&e;',
  '&amp;',
  '&#0;',
  '<![CDATA[',
  ']]>',
  '<!--',
  '-->',
  'xmlns="urn:x"',
  'xmlns:a="urn:a"',
  '<a:b>',
  '</a:b>',
  '="',
  '"',
  ' ',
  '\u0000',
  'x',
  '<bar:And>',
  '<lar:Or>',
  '<bar:WindowsVersion Major="10"/>',
  '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">',
  '<s:Body>',
];
const xmlish: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc.array(fc.constantFrom(...XML_BITS), { maxLength: 60 }).map((a) => a.join('')),
);
const textish: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc
    .array(fc.constantFrom('=', '"', '\n', ' ', 'REG_SZ', 'REG_DWORD', '0x1', 'HKEY_', 'a', '\\'), {
      maxLength: 60,
    })
    .map((a) => a.join('')),
);

check(
  'parseManifest',
  parseManifest,
  jsonish([
    'title',
    'product',
    'classification',
    'version',
    'handler',
    'isInstallable',
    'isInstalled',
    'supersedes',
    'prerequisites',
    'type',
    'program',
  ]),
);
check(
  'parseRevisionDocument',
  parseRevisionDocument,
  jsonish(['updateId', 'revisionNumber', 'title', 'handler', 'files', 'rules', 'supersedes']),
);
check(
  'parseInventory',
  parseInventory,
  jsonish(['platform', 'files', 'registry', 'products', 'name', 'version', 'architecture']),
);
check('parseRuleJson', parseRuleJson, jsonish(['and', 'or', 'not', 'file', 'platform', 'True']));
check('parseRulePairJson', parseRulePairJson, jsonish(['isInstalled', 'isInstallable', 'and']));
check('parseXml', (s: string) => parseXml(s), xmlish);
check('parsePieceXml', (s: string) => parsePieceXml(s, DEFAULT_XML_LIMITS), xmlish);
check('parseRuleXml', (s: string) => parseRuleXml(s), xmlish);
check('parseApplicabilityRulesXml', (s: string) => parseApplicabilityRulesXml(s), xmlish);
check('parseEnvelope (SOAP)', (s: string) => parseEnvelope(s, 'client'), xmlish);
check('parseWql', parseWql, textish);
check(
  'parsePackageManifest',
  (s: string) => parsePackageManifest(s),
  fc.oneof(
    fc.string(),
    jsonish(['name', 'version', 'install', 'files', 'program']).map((v) => JSON.stringify(v)),
  ),
);
check('parsePropertyFlags', parsePropertyFlags, fc.array(textish, { maxLength: 5 }));
check('parseRegQuery', parseRegQuery, textish);
check('parseOsRelease', parseOsRelease, fc.option(textish, { nil: undefined }));
check('parseKeyKind', parseKeyKind, fc.string());
check(
  'readPropertyTable (MSI)',
  (b: Uint8Array) => readPropertyTable(b),
  fc.uint8Array({ maxLength: 4096 }),
);

/** Binary containers: random bytes and a real-looking header with random fields after it. */
const cabBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }),
  fc.uint8Array({ minLength: 36, maxLength: 2048 }).map((b) => {
    const out = Buffer.from(b);
    out.write('MSCF', 0, 'latin1');
    out.writeUInt32LE(0, 4);
    out.writeUInt8(3, 24);
    out.writeUInt8(1, 25);
    return new Uint8Array(out);
  }),
);

test('fuzz: readCab and verifyCabBytes return or refuse with a coded error', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-fuzz-cab-'));
  try {
    const crashes: string[] = [];
    const file = path.join(dir, 'f.cab');
    await fc.assert(
      fc.asyncProperty(cabBytes, async (bytes) => {
        await writeFile(file, bytes);
        for (const [name, run] of [
          ['readCab', () => readCab(file)],
          ['verifyCabBytes', async () => verifyCabBytes(Buffer.from(bytes), [])],
        ] as const) {
          try {
            await run();
          } catch (err) {
            if (!refusalOk(err)) crashes.push(`${name}: ${String(err)}`);
          }
        }
      }),
      { numRuns: RUNS, seed: 13 },
    );
    t.deepEqual(crashes.slice(0, 5), [], `${crashes.length} uncoded errors`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
