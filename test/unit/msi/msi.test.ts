import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { UpcatError } from '../../../src/errors.js';
import { evaluateRule } from '../../../src/rules/index.js';
import {
  decodeStreamName,
  msiMetadataFromBytes,
  readMsiMetadata,
} from '../../../src/publish/msi.js';
import { rulesFromMsi } from '../../../src/publish/msi-rules.js';
import { buildMsi } from './build-msi.js';

let dir: string;
test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upcat-msi-'));
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** msiinfo (msitools) is the reference reader: its Property export, as a record. */
function msiinfoProperties(file: string): Record<string, string> {
  const text = execFileSync('msiinfo', ['export', file, 'Property'], { encoding: 'utf8' });
  // Line 1 names the columns, 2 their types, 3 the table and its keys; rows follow.
  const rows = text
    .split(/\r?\n/)
    .slice(3)
    .filter((l) => l !== '');
  return Object.fromEntries(rows.map((l) => l.split('\t') as [string, string]));
}

test('reads the Property table as msiinfo does, from an MSI that wixl builds', async (t) => {
  const file = await buildMsi(dir, {
    name: 'Contoso Tool',
    version: '5.0.1',
    manufacturer: 'Contoso Ltd',
    productCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
  });
  const metadata = await readMsiMetadata(file);
  t.is(metadata.productCode, '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}');
  t.is(metadata.productVersion, '5.0.1');
  t.is(metadata.productName, 'Contoso Tool');
  t.is(metadata.manufacturer, 'Contoso Ltd');
  t.deepEqual(metadata.properties, msiinfoProperties(file));
});

test('non-ASCII names survive the string pool code page', async (t) => {
  const file = await buildMsi(dir, {
    name: 'Café Outil',
    version: '1.2.3.4',
    manufacturer: 'Société Générale',
    productCode: '{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}',
  });
  const metadata = await readMsiMetadata(file);
  t.is(metadata.productName, 'Café Outil');
  t.is(metadata.manufacturer, 'Société Générale');
  t.is(metadata.productVersion, '1.2.3.4');
  t.deepEqual(metadata.properties, msiinfoProperties(file));
});

test('derived rules: installed at that version or above, installable everywhere', async (t) => {
  const file = await buildMsi(dir, {
    name: 'Derived',
    version: '2.0.0',
    manufacturer: 'Contoso',
    productCode: '{12345678-1234-1234-1234-123456789ABC}',
  });
  const rules = rulesFromMsi(await readMsiMetadata(file));
  t.deepEqual(rules.isInstalled, {
    kind: 'MsiProductInstalled',
    ProductCode: '{12345678-1234-1234-1234-123456789ABC}',
    VersionMin: '2.0.0',
  });
  t.deepEqual(rules.isInstallable, { kind: 'True' });
  const at = (version: string) =>
    evaluateRule(rules.isInstalled, {
      msiProducts: { '{12345678-1234-1234-1234-123456789abc}': { version } },
    }).value;
  t.is(at('2.0.0'), true);
  t.is(at('2.1'), true);
  t.is(at('1.9.9'), false);
});

test('decodes compressed stream names (libmsi encoding)', (t) => {
  // "_StringPool" as msitools encodes it: 0x4840 prefix, then two characters per code unit.
  const encode = (name: string): string => {
    const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._';
    let out = '\u4840';
    for (let i = 0; i < name.length; i += 2) {
      const a = alphabet.indexOf(name[i] as string);
      const b = i + 1 < name.length ? alphabet.indexOf(name[i + 1] as string) : -1;
      out += String.fromCharCode(b === -1 ? 0x4800 + a : 0x3800 + a + (b << 6));
    }
    return out;
  };
  t.is(decodeStreamName(encode('_StringPool')), '\u4840_StringPool');
  t.is(decodeStreamName(encode('Property')), '\u4840Property');
  t.is(decodeStreamName('\u0005SummaryInformation'), '\u0005SummaryInformation');
});

test('a file that is not an MSI is invalid input naming it', async (t) => {
  const err = t.throws(() => msiMetadataFromBytes(Buffer.from('not a compound file'), 'x.msi'), {
    instanceOf: UpcatError,
  });
  t.is(err?.code, 'invalid_input');
  t.regex(err?.message ?? '', /x\.msi/);
  // A compound file without MSI tables is not an MSI either.
  const doc = path.join(dir, 'plain.bin');
  await writeFile(doc, Buffer.alloc(0));
  const bytes = await readFile(doc);
  t.throws(() => msiMetadataFromBytes(bytes, 'empty.msi'), { instanceOf: UpcatError });
});
