import { UpcatError } from '../errors.js';

/**
 * Splits a handler's argument string into argv, as a POSIX shell would split words: white space
 * separates, single quotes keep everything, double quotes keep all but `\"` and `\\`, a backslash
 * outside quotes escapes the next character. No expansion of any kind happens: the installer is
 * spawned directly, never through a shell, so a property value cannot inject a command.
 */
export function splitArguments(text: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== undefined)
    throw new UpcatError('invalid_input', `handler arguments: unclosed ${quote} quote`);
  if (inWord) out.push(word);
  return out;
}

/**
 * Replaces `$(Name)` in each argument with the installation property `Name` (WSUS/SCCM's
 * spelling); an unknown property is an error naming it, not an empty string.
 */
export function substituteProperties(
  args: readonly string[],
  properties: Readonly<Record<string, string>>,
): string[] {
  return args.map((a) =>
    a.replace(/\$\(([A-Za-z][A-Za-z0-9_.-]{0,63})\)/g, (_m, name: string) => {
      const value = properties[name];
      if (value === undefined)
        throw new UpcatError(
          'invalid_input',
          `handler arguments name installation property "${name}", which is not set`,
        );
      return value;
    }),
  );
}
