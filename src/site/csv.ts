/**
 * CSV as RFC 4180 writes it (issue 14 item 1, reports as CSV): a header row, CRLF after every
 * record, a field quoted when it holds a comma, a double quote, CR or LF, its quotes doubled.
 *
 * A text cell that a spreadsheet would read as a formula (starting with = + - @, or a tab or CR
 * that some spreadsheets skip before one) gets a leading apostrophe, as OWASP's "CSV injection"
 * advice says: client names and failure details come from endpoints, and an administrator opening
 * the report must not run what an endpoint wrote. Numbers are written as they are (a negative
 * exit code is a number, not a formula).
 */
export type CsvCell = string | number | boolean | null | undefined;

export interface CsvColumn<T> {
  header: string;
  value: (row: T) => CsvCell;
}

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

export function csvField(cell: CsvCell): string {
  if (cell === null || cell === undefined) return '';
  if (typeof cell === 'number' || typeof cell === 'boolean') return String(cell);
  const text = FORMULA_START.test(cell) ? `'${cell}` : cell;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv<T>(columns: ReadonlyArray<CsvColumn<T>>, rows: readonly T[]): string {
  const lines = [columns.map((c) => csvField(c.header)).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvField(c.value(row))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Columns named as the JSON fields are, so a script reads the same names either way. */
export function fieldColumns<T extends object>(
  fields: ReadonlyArray<keyof T & string>,
): Array<CsvColumn<T>> {
  return fields.map((f) => ({ header: f, value: (row: T) => row[f] as CsvCell }));
}
