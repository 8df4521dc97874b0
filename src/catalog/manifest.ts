import { z } from 'zod';
import { hasControlChars, parseWith } from '../validation.js';

/**
 * The publish manifest of DESIGN.md §8: one revision of an update, as a release pipeline writes
 * it. Every field is validated and unknown fields are errors. Applicability rules are checked
 * for shape here and parsed by the rules module (they are trees with their own vocabulary).
 */

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const guid = z
  .string()
  .regex(GUID, 'must be a GUID such as 6f1c2f0e-8c4e-4a52-9b7d-3c2f5e1a9d10')
  .transform((s) => s.toLowerCase());

/** WSUS update classifications. */
export const CLASSIFICATIONS = [
  'Applications',
  'Critical Updates',
  'Definition Updates',
  'Drivers',
  'Feature Packs',
  'Security Updates',
  'Service Packs',
  'Tools',
  'Update Rollups',
  'Updates',
  'Upgrades',
] as const;

export const VERSION_PATTERN = /^\d{1,9}(\.\d{1,9}){0,3}$/;

const text = (max: number) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    // Titles and names end up in logs, XML documents and file names.
    .refine((s) => !hasControlChars(s), 'must not contain control characters');

/**
 * Command lines and paths: one line, possibly empty. A control character (a NUL above all) would
 * make an invalid update XML document and, on PostgreSQL, a failed insert instead of a 400.
 */
const line = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !hasControlChars(s), 'must not contain control characters');

/** Free text: tabs and line breaks are kept, other control characters refused (as for `line`). */
const freeText = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine(
      (s) => !hasControlChars(s.replace(/[\t\n\r]/g, '')),
      'must not contain control characters other than tabs and line breaks',
    );

const returnCode = z
  .object({
    code: z.number().int().min(-2147483648).max(4294967295),
    result: z.enum(['Succeeded', 'Failed', 'Cancelled']),
    reboot: z.boolean().default(false),
  })
  .strict();

const returnCodes = z
  .array(returnCode)
  .max(256)
  .refine(
    (codes) => new Set(codes.map((c) => c.code)).size === codes.length,
    'codes must be unique',
  );

const commandLine = z
  .object({
    program: line(1024).min(1, 'must not be empty'),
    arguments: line(8192).default(''),
  })
  .strict();

const commandLineHandler = z
  .object({
    type: z.literal('commandLine'),
    program: line(1024).min(1, 'must not be empty'),
    arguments: line(8192).default(''),
    uninstall: commandLine.optional(),
    returnCodes: returnCodes.default([{ code: 0, result: 'Succeeded', reboot: false }]),
    defaultResult: z.enum(['Succeeded', 'Failed']).default('Failed'),
  })
  .strict();

const msiHandler = z
  .object({
    type: z.literal('msi'),
    productCode: z
      .string()
      .regex(
        /^\{[0-9A-Fa-f-]{36}\}$/,
        'must be a braced GUID such as {0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
      )
      .refine((s) => GUID.test(s.slice(1, -1)), 'must be a braced GUID')
      .transform((s) => s.toUpperCase()),
    /** The .msi inside a package; absent when the payload itself is the .msi. */
    program: line(1024).min(1, 'must not be empty').optional(),
    installCommandLine: line(8192).default(''),
    uninstallCommandLine: line(8192).default(''),
    returnCodes: returnCodes.default([
      { code: 0, result: 'Succeeded', reboot: false },
      { code: 1641, result: 'Succeeded', reboot: true },
      { code: 3010, result: 'Succeeded', reboot: true },
    ]),
    defaultResult: z.enum(['Succeeded', 'Failed']).default('Failed'),
  })
  .strict();

export const handlerSchema = z.discriminatedUnion('type', [commandLineHandler, msiHandler], {
  error: () => 'must have "type" commandLine or msi',
});

/** A rule tree is a JSON object; its vocabulary is checked by the rules parser. */
const ruleShape = z.record(z.string(), z.unknown());

export const manifestSchema = z
  .object({
    updateId: guid.optional(),
    title: text(512),
    description: freeText(16_384).default(''),
    product: text(256),
    classification: z.enum(CLASSIFICATIONS),
    version: z
      .string()
      .regex(VERSION_PATTERN, 'must be a version of 1 to 4 numeric parts, such as 5.0.1'),
    handler: handlerSchema,
    isInstalled: ruleShape.optional(),
    isInstallable: ruleShape.optional(),
    prerequisites: z
      .array(z.array(guid).min(1, 'an OR-group must name at least one update').max(64))
      .max(64)
      .default([]),
    supersedes: z.array(guid).max(256).default([]),
  })
  .strict();

export type Manifest = z.output<typeof manifestSchema>;
export type Handler = z.output<typeof handlerSchema>;
export type ReturnCode = z.output<typeof returnCode>;

/** Validates a parsed manifest document; every error names its field. */
export function parseManifest(value: unknown): Manifest {
  return parseWith(manifestSchema, value, 'manifest');
}
