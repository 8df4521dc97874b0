/**
 * Base64 decoding that refuses anything but the canonical encoding.
 *
 * Node's decoder skips characters outside the alphabet and ignores the unused low bits of the
 * last character, so several texts decode to the same bytes. A sealed value (an anchor, a
 * sealed secret) must have exactly one spelling: otherwise an altered text can still open, and
 * a test that flips a character finds it does.
 */
export function decodeBase64Strict(
  text: string,
  encoding: 'base64' | 'base64url',
): Buffer | undefined {
  const raw = Buffer.from(text, encoding);
  return raw.toString(encoding) === text ? raw : undefined;
}
