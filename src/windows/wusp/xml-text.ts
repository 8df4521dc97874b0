/**
 * Text and attribute escaping for the XML that the WUSP server writes by hand. Element text
 * escapes &, < and > (> for `]]>`); attribute values also escape quotes and the white-space
 * characters an attribute would otherwise normalize away (XML 1.0 section 3.3.3).
 */
export function escapeText(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function escapeAttribute(value: string): string {
  return escapeText(value)
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#x9;')
    .replace(/\n/g, '&#xA;')
    .replace(/\r/g, '&#xD;');
}

/** `<name a="1" b="2">` or `<name a="1"/>`: attributes in the given order, undefined ones left out. */
export function tag(
  name: string,
  attributes: ReadonlyArray<readonly [string, string | number | boolean | undefined]>,
  inner?: string,
): string {
  const attrs = attributes
    .filter((a): a is readonly [string, string | number | boolean] => a[1] !== undefined)
    .map(([k, v]) => ` ${k}="${escapeAttribute(String(v))}"`)
    .join('');
  return inner === undefined ? `<${name}${attrs}/>` : `<${name}${attrs}>${inner}</${name}>`;
}

/** `<name>text</name>` with the text escaped. */
export function el(name: string, text: string | number | boolean): string {
  return `<${name}>${escapeText(String(text))}</${name}>`;
}
