import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { UpcatError } from '../../../src/errors.js';
import { checkRelativePath } from '../../../src/publish/safe-path.js';

const accepted = [
  'setup.sh',
  'bin/client',
  'a/b/c/d.txt',
  '.hidden',
  'dir/..hidden',
  'a..b',
  'naïve/файл.txt',
  'x'.repeat(255),
  `${'a'.repeat(200)}/${'b'.repeat(200)}/${'c'.repeat(200)}/${'d'.repeat(200)}/${'e'.repeat(219)}`,
];

for (const p of accepted) {
  test(`accepts ${JSON.stringify(p.length > 40 ? `${p.slice(0, 20)}...` : p)}`, (t) => {
    t.is(checkRelativePath(p, 'handler.program'), p);
  });
}

const rejected: Array<[string, RegExp]> = [
  ['', /path is empty/],
  ['../x', /path traversal \("\.\.\/x"\) is not allowed/],
  ['a/../../x', /path traversal/],
  ['a/..', /path traversal/],
  ['..', /path traversal/],
  ['./x', /"\." segment/],
  ['a/./b', /"\." segment/],
  ['a//b', /empty segment/],
  ['a/', /empty segment/],
  ['/etc/passwd', /absolute path/],
  ['C:/Windows/x', /drive letter/],
  ['c:x', /drive letter/],
  ['a\\b', /backslash/],
  ['..\\x', /backslash/],
  ['a\0b', /control character/],
  ['a\nb', /control character/],
  ['a\u007fb', /control character/],
  ['a\u0085b', /control character/],
  ['a\ud800b', /control character/],
  ['...', /only dots and spaces/],
  ['a/.. /b', /only dots and spaces/],
  ['x'.repeat(256), /longer than 255 bytes/],
  ['é'.repeat(128), /longer than 255 bytes/],
  [Array.from({ length: 206 }, () => 'abcd').join('/'), /longer than 1024 bytes/],
];

for (const [p, message] of rejected) {
  test(`rejects ${JSON.stringify(p.length > 40 ? `${p.slice(0, 20)}...` : p)}`, (t) => {
    const err = t.throws(() => checkRelativePath(p, 'handler.program'), {
      instanceOf: UpcatError,
      message,
    });
    t.is(err?.code, 'invalid_input');
    t.true(err?.message.startsWith('handler.program: '));
    t.deepEqual(err?.details, { field: 'handler.program', path: p });
  });
}

test('the exact message for a traversal', (t) => {
  t.throws(() => checkRelativePath('../x', 'handler.program'), {
    message: 'handler.program: path traversal ("../x") is not allowed',
  });
});

// Paths made of the characters that matter, so the generator often lands on tricky forms.
const trickyPath = fc
  .array(fc.constantFrom('a', 'b', '.', '/', '\\', ':', 'C', ' ', '\0', '..', '~'), {
    maxLength: 12,
  })
  .map((parts) => parts.join(''));

function accepts(p: string): boolean {
  try {
    checkRelativePath(p, 'p');
    return true;
  } catch (err) {
    if (err instanceof UpcatError && err.code === 'invalid_input') return false;
    throw err;
  }
}

test('property: an accepted path never resolves outside the base directory', (t) => {
  fc.assert(
    fc.property(fc.oneof(trickyPath, fc.string({ unit: 'binary' })), (p) => {
      if (!accepts(p)) return true;
      return (
        path.posix.resolve('/base', p).startsWith('/base/') &&
        path.win32.resolve('C:\\base', p).startsWith('C:\\base\\')
      );
    }),
    { numRuns: 5000 },
  );
  t.pass();
});

test('property: an accepted path is returned unchanged and is already normal', (t) => {
  fc.assert(
    fc.property(trickyPath, (p) => {
      if (!accepts(p)) return true;
      return checkRelativePath(p, 'p') === p && path.posix.normalize(p) === p;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
