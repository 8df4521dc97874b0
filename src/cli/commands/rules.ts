import type { Command } from 'commander';
import path from 'node:path';
import type { InventoryProvider } from '../../agent/inventory/provider.js';
import { requestFor } from '../../agent/inventory/needs.js';
import { SnapshotProvider } from '../../agent/inventory/snapshot.js';
import { applicability, type Tri, type Why } from '../../rules/evaluate.js';
import { parseRulePairJson } from '../../rules/json.js';
import type { RulePair } from '../../rules/model.js';
import { invalidInput } from '../../errors.js';
import { output } from '../context.js';
import { readCapped } from '../read-capped.js';

// The engine's modules are imported one by one rather than through rules/index.js, and the XML
// reader (xml2js) and this machine's inventory providers only when the rule file or
// `--inventory local` asks for them: a command run per update in a script starts faster (issue 16).

interface EvalOptions {
  rules: string;
  inventory: string;
  json?: boolean;
}

/** Rules files are written by people; a megabyte is far more than any real rule set. */
const MAX_RULES_BYTES = 16 * 1024 * 1024;

/** `upcat rules eval` (issue 4, item 7): one update's rules against one machine. */
export function registerRules(program: Command): void {
  const rules = program.command('rules').description('applicability rules');
  rules
    .command('eval')
    .description('evaluate IsInstalled and IsInstallable against an inventory and explain why')
    .requiredOption(
      '--rules <file.json|file.xml>',
      'JSON {"isInstalled","isInstallable"} or an XML ApplicabilityRules element (Update namespace)',
    )
    .requiredOption(
      '--inventory <snapshot.json|local>',
      'an inventory snapshot (docs/RULES.md §2.1), or "local" to inspect this machine',
    )
    .option('--json', 'print {"isInstalled","isInstallable","applicable","why"}')
    .action(async (opts: EvalOptions) => {
      const pair = await readRules(opts.rules);
      const provider = await inventoryProvider(opts.inventory);
      const inventory = await provider.collect(requestFor([pair.isInstalled, pair.isInstallable]));
      const result = applicability(pair, inventory);
      const printed = {
        isInstalled: result.isInstalled.value,
        isInstallable: result.isInstallable.value,
        applicable: result.value,
        why: result.why,
      };
      output(opts.json, printed, () =>
        [
          `installed:   ${show(result.isInstalled.value)}`,
          `installable: ${show(result.isInstallable.value)}`,
          `applicable:  ${show(result.value)}`,
          'why:',
          ...whyLines(result.why, '  '),
        ].join('\n'),
      );
    });
}

async function readRules(file: string): Promise<RulePair> {
  const text = await readCapped(file, MAX_RULES_BYTES, 'rules');
  const isXml = path.extname(file).toLowerCase() === '.xml' || text.trimStart().startsWith('<');
  if (isXml) {
    const { parseApplicabilityRulesXml } = await import('../../rules/xml.js');
    return parseApplicabilityRulesXml(text.replace(/^\uFEFF/, ''), { mode: 'strict' }).rules;
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw invalidInput(`rules ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseRulePairJson(value);
}

async function inventoryProvider(spec: string): Promise<InventoryProvider> {
  if (spec !== 'local') return SnapshotProvider.fromFile(spec);
  const { localProvider } = await import('../../agent/inventory/local.js');
  return localProvider();
}

function show(value: Tri): string {
  return String(value);
}

function whyLines(why: Why, indent: string): string[] {
  const line = `${indent}${why.rule}: ${show(why.value)} (${why.reason}) [${why.path}]`;
  return [line, ...(why.children ?? []).flatMap((c) => whyLines(c, `${indent}  `))];
}
