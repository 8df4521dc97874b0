/**
 * The revision as its WSUS-style update metadata document carries it (issue 3, item 4), and the
 * names that document uses. Element and attribute names follow the update metadata of MS-WUSP
 * (section 3.1.1.1, "Populating the Data Model", reads them with XPATHs such as
 * /Update/UpdateIdentity/@UpdateID and /Update/Files/File/@Digest) and the CSAPI Update schema
 * (namespace http://schemas.microsoft.com/msus/2002/12/Update). Pure data: no I/O here.
 */
import { z } from 'zod';
import type { Rule } from '../rules/index.js';
import { describeIssues, hasControlChars } from '../validation.js';
import { invalidInput } from '../errors.js';
import { CLASSIFICATIONS, guid, handlerSchema, VERSION_PATTERN, type Handler } from './manifest.js';

export const UPDATE_NS = 'http://schemas.microsoft.com/msus/2002/12/Update';
/** Handler namespaces: the HandlerID values that WUA reports (IUpdate::get_HandlerID). */
export const CMD_NS =
  'http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CommandLineInstallation';
export const MSP_NS = 'http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/WindowsInstaller';
export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
/**
 * upcat's own facts that the WSUS vocabulary has no place for (product and classification by
 * name rather than by category GUID, version, file kind, uninstall command, MSI return codes).
 * A separate namespace, so that nothing pretends to be part of Microsoft's schema.
 */
export const UPCAT_NS = 'urn:upcat:update-metadata:1';

/** One payload file; digests in lowercase hex (the XML carries them in base64, as WSUS does). */
export interface RevisionFile {
  name: string;
  size: number;
  sha1: string;
  sha256: string;
  /** 'package': an archive made by `upcat package`, unpacked before the handler runs. */
  kind: 'file' | 'package';
}

export type Classification = (typeof CLASSIFICATIONS)[number];

/** One revision of an update (DESIGN.md §2), as carried by its update metadata document. */
export interface RevisionDocument {
  updateId: string;
  revisionNumber: number;
  title: string;
  description: string;
  product: string;
  classification: Classification;
  version: string;
  /** ISO 8601 UTC timestamp, such as 2024-05-01T12:00:00.000Z. */
  created: string;
  handler: Handler;
  isInstalled?: Rule;
  isInstallable?: Rule;
  /** AND of OR-groups of UpdateIDs. */
  prerequisites: string[][];
  supersedes: string[];
  bundles: string[];
  files: RevisionFile[];
  /**
   * The vendor's InstallationBehavior RebootBehavior, when an imported package states it
   * (issue 11); otherwise it is derived from the handler's return codes.
   */
  rebootBehavior?: 'NeverReboots' | 'AlwaysRequiresReboot' | 'CanRequestReboot';
}

/** Characters outside the XML 1.0 Char production, or a lone surrogate: XML cannot carry them. */
export function hasNonXmlChar(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 && c !== 0x9 && c !== 0xa && c !== 0xd) return true;
    if (c === 0xfffe || c === 0xffff || (c >= 0xdc00 && c <= 0xdfff)) return true;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i += 1;
    }
  }
  return false;
}

/** One-line text (titles, names): element text keeps it exactly, but not if it is all spaces. */
const line = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((s) => s.trim() !== '', 'must not be empty or only spaces')
    .refine((s) => !hasControlChars(s) && !hasNonXmlChar(s), 'must not contain control characters');

/** Free text; white space alone carries nothing (and XML readers drop it), so it becomes ''. */
const freeText = z
  .string()
  .max(16_384, 'must be at most 16384 characters')
  .refine((s) => !hasNonXmlChar(s), 'contains a character that XML cannot carry')
  .transform((s) => (s.trim() === '' ? '' : s));

const hex = (bytes: number, name: string) =>
  z
    .string()
    .regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `must be the ${name} digest in hexadecimal`)
    .transform((s) => s.toLowerCase());

export const fieldSchemas = {
  updateId: guid,
  /** RevisionNumber is an s:int (MS-WUSP 2.2.3.6); WSUS numbers revisions from 1. */
  revisionNumber: z.number().int('must be an integer').min(1).max(2_147_483_647),
  title: line(512),
  description: freeText,
  product: line(256),
  classification: z.enum(CLASSIFICATIONS),
  version: z.string().regex(VERSION_PATTERN, 'must be a version of 1 to 4 numeric parts'),
  created: z.iso.datetime({ message: 'must be an ISO 8601 UTC timestamp' }),
  fileName: line(1024),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  sha1: hex(20, 'SHA-1'),
  sha256: hex(32, 'SHA-256'),
  kind: z.enum(['file', 'package']),
} as const;

/** Handler strings end up in XML attributes: every one must be a character XML can carry. */
const xmlSafeHandler = handlerSchema.superRefine((handler, ctx) => {
  const walk = (value: unknown, path: PropertyKey[]): void => {
    if (typeof value === 'string' && hasNonXmlChar(value)) {
      ctx.addIssue({ code: 'custom', path, message: 'contains a character XML cannot carry' });
    } else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
    else if (typeof value === 'object' && value !== null)
      Object.entries(value).forEach(([k, v]) => walk(v, [...path, k]));
  };
  walk(handler, []);
});

const fileSchema = z
  .object({
    name: fieldSchemas.fileName,
    size: fieldSchemas.size,
    sha1: fieldSchemas.sha1,
    sha256: fieldSchemas.sha256,
    kind: fieldSchemas.kind,
  })
  .strict();

/** A rule tree comes from the rules module's parsers, which validate it; here only its shape. */
const ruleShape = z.custom<Rule>(
  (v) => typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string',
  'must be a rule',
);

export const revisionDocumentSchema = z
  .object({
    updateId: fieldSchemas.updateId,
    revisionNumber: fieldSchemas.revisionNumber,
    title: fieldSchemas.title,
    description: fieldSchemas.description,
    product: fieldSchemas.product,
    classification: fieldSchemas.classification,
    version: fieldSchemas.version,
    created: fieldSchemas.created,
    handler: xmlSafeHandler,
    isInstalled: ruleShape.optional(),
    isInstallable: ruleShape.optional(),
    prerequisites: z
      .array(z.array(guid).min(1, 'an OR-group must name at least one update').max(64))
      .max(64),
    // Vendors list a package's whole history (BIOS packages ~400); the XSDs set no bound.
    supersedes: z.array(guid).max(10_000),
    bundles: z.array(guid).max(256),
    files: z.array(fileSchema).max(1024),
    rebootBehavior: z.enum(['NeverReboots', 'AlwaysRequiresReboot', 'CanRequestReboot']).optional(),
  })
  .strict();

/** Validates and normalizes a revision (lowercase GUIDs and hex, blank description to ''). */
export function parseRevisionDocument(value: unknown): RevisionDocument {
  const result = revisionDocumentSchema.safeParse(value);
  if (!result.success) {
    const problems = describeIssues(result.error.issues);
    throw invalidInput(`invalid revision document: ${problems.join('; ')}`, { problems });
  }
  const { isInstalled, isInstallable, ...rest } = result.data;
  // Absent rules stay absent keys, so that documents compare equal after a round trip.
  const doc: RevisionDocument = rest;
  if (isInstalled !== undefined) doc.isInstalled = isInstalled;
  if (isInstallable !== undefined) doc.isInstallable = isInstallable;
  return doc;
}

/** Checks one value read from XML; the error names the element or attribute at `at`. */
export function checkField<S extends z.ZodType>(
  schema: S,
  value: unknown,
  at: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = describeIssues(result.error.issues, at);
  throw invalidInput(problems.join('; '), { path: at, problems });
}
