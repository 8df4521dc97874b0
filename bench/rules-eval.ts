/**
 * Issue 4 benchmark: evaluate the rules of 10,000 updates against one inventory snapshot
 * (target: under 200 ms in total). The rule sets have the shapes real catalogs use: MSI
 * detection, file and registry versions, Windows version, processor and model WmiQuery
 * targeting; parsing them is not timed (a client parses the catalog once per sync).
 * Run: node --import tsx bench/rules-eval.ts
 */
import { pathToFileURL } from 'node:url';
import { applicability, parseInventory, parseRuleJson, type Rule } from '../src/rules/index.js';
import { importSdp } from '../src/publish/sdp/index.js';
import { DELL_DRIVER, fixture } from './fixtures-gen.js';
import type { BenchResult } from './types.js';

const UPDATES = 10_000;
const TARGET_MS = 200;

const inventory = parseInventory({
  platform: {
    name: 'windows',
    version: '10.0.19045',
    productType: 1,
    architecture: 'x64',
    servicePackMajor: 0,
    servicePackMinor: 0,
  },
  files: Object.fromEntries(
    Array.from({ length: 500 }, (_, i) => [
      `C:\\Program Files\\Vendor${i}\\app.exe`,
      { version: `${i % 9}.${i % 5}.0.0`, size: 1000 + i },
    ]),
  ),
  registry: Object.fromEntries(
    Array.from({ length: 500 }, (_, i) => [
      `HKEY_LOCAL_MACHINE\\SOFTWARE\\Vendor${i}`,
      { Version: { type: 'REG_SZ', data: `${i % 7}.1` } },
    ]),
  ),
  msiProducts: Object.fromEntries(
    Array.from({ length: 300 }, (_, i) => [
      `{${String(i).padStart(8, '0')}-0000-0000-0000-000000000000}`,
      { version: `${i % 5}.0` },
    ]),
  ),
  wmi: {
    Win32_ComputerSystem: [{ Manufacturer: 'HP', Model: 'HP EliteDesk 800 G3 DM' }],
    Win32_BIOS: [{ SMBIOSBIOSVersion: 'P21 Ver. 02.22' }],
  },
});

function updateRules(i: number): { isInstalled: Rule; isInstallable: Rule } {
  const v = i % 600;
  const detect = [
    {
      MsiProductInstalled: {
        ProductCode: `{${String(v).padStart(8, '0')}-0000-0000-0000-000000000000}`,
        VersionMin: `${i % 6}.0`,
      },
    },
    {
      FileVersion: {
        Path: `C:\\Program Files\\Vendor${v}\\app.exe`,
        Comparison: 'GreaterThanOrEqualTo',
        Version: `${i % 9}.2`,
      },
    },
    {
      RegSzToVersion: {
        Key: 'HKEY_LOCAL_MACHINE',
        Subkey: `SOFTWARE\\Vendor${v}`,
        Value: 'Version',
        Comparison: 'GreaterThanOrEqualTo',
        Data: '3.1',
      },
    },
  ][i % 3];
  const installable = {
    And: [
      { WindowsVersion: { Comparison: 'GreaterThanOrEqualTo', MajorVersion: 10, MinorVersion: 0 } },
      { Processor: { Architecture: i % 4 === 0 ? 'x86' : 'x64' } },
      {
        WmiQuery: {
          Namespace: 'root\\cimv2',
          WqlQuery: `SELECT * FROM Win32_ComputerSystem WHERE Manufacturer = 'HP' AND (Model LIKE '%EliteDesk 800 G${i % 6}%' OR Model LIKE '%ProDesk 600 G${i % 5}%')`,
        },
      },
    ],
  };
  return { isInstalled: parseRuleJson(detect), isInstallable: parseRuleJson(installable) };
}

export async function run(): Promise<BenchResult> {
  const updates = Array.from({ length: UPDATES }, (_, i) => updateRules(i));
  // Warm up the JIT and the inventory's lookup indexes, as a running agent would be.
  for (const u of updates.slice(0, 500)) applicability(u, inventory);
  const samples: number[] = [];
  let applicable = 0;
  for (let round = 0; round < 5; round++) {
    applicable = 0;
    const start = process.hrtime.bigint();
    for (const u of updates) if (applicability(u, inventory).applicable) applicable += 1;
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const median = [...samples].sort((a, b) => a - b)[2] as number;

  // The largest real rule tree at hand: the Dell driver SDP (615 WmiQuery rules).
  const manifest = importSdp(fixture(DELL_DRIVER)).manifest ?? {};
  const dell = {
    isInstalled: parseRuleJson(manifest['isInstalled']),
    isInstallable: parseRuleJson(manifest['isInstallable']),
  };
  const dellStart = process.hrtime.bigint();
  for (let i = 0; i < 100; i++) applicability(dell, inventory);
  const dellMs = Number(process.hrtime.bigint() - dellStart) / 1e6 / 100;

  return {
    name: 'rules-eval',
    figures: {
      updates: UPDATES,
      'total ms (median of 5)': round(median),
      'best ms': round(Math.min(...samples)),
      'µs per update': round((median * 1000) / UPDATES),
      applicable,
      'Dell driver SDP rules, ms per evaluation': round(dellMs),
    },
    reference: `target ${TARGET_MS} ms for ${UPDATES} updates (issue 4)`,
    ratio: round(median / TARGET_MS),
    target: `under ${TARGET_MS} ms for ${UPDATES} updates`,
    met: median < TARGET_MS,
  };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run();
  console.log(JSON.stringify(result, null, 2));
}
