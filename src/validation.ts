import type { z } from 'zod';
import { UpcatError, type ErrorCode } from './errors.js';

/** Renders a path such as `handler.returnCodes[1].code`. */
export function formatPath(path: ReadonlyArray<PropertyKey>, root?: string): string {
  let out = root ?? '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

/** One line per problem, each naming the field: unknown keys are listed by their own path. */
export function describeIssues(issues: ReadonlyArray<z.core.$ZodIssue>, root?: string): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        lines.push(`${formatPath([...issue.path, key], root)}: unknown field`);
    } else {
      lines.push(`${formatPath(issue.path, root)}: ${issue.message}`);
    }
  }
  return lines;
}

/**
 * Parses `value` with `schema`, or throws a coded error whose message names every bad field.
 * `what` says what was being read ("manifest", "config file catalog/upcat.config.json").
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  code: ErrorCode = 'invalid_input',
  root?: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = describeIssues(result.error.issues, root);
  throw new UpcatError(code, `invalid ${what}: ${problems.join('; ')}`, {
    details: { problems },
  });
}

/**
 * True when text holds a C0 control character or DEL. Names, IDs and command lines end up in
 * tables, logs and XML documents, and PostgreSQL refuses a NUL byte outright.
 */
export function hasControlChars(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
