import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { verifyCatalog, type VerifyReport } from '../../src/verify/verify-catalog.js';
import { makeTufFixture, type TufFixture } from '../helpers/tuf.js';

/**
 * `upcat verify` checks small targets in memory and streams those over 8 MiB through a file
 * (issue 16); the large path must refuse what the small one refuses: other bytes of the same
 * length, and more bytes than the signed length.
 */

const BIG = 9 * 1024 * 1024;

async function verify(fx: TufFixture): Promise<VerifyReport> {
  return verifyCatalog({
    baseUrl: fx.baseUrl,
    trustedRoot: await readFile(path.join(fx.repoDir, '1.root.json')),
    checkSignatures: false,
  });
}

test('verify: a target over 8 MiB is checked while streamed, and a tampered or longer one is refused', async (t) => {
  const fx = await makeTufFixture();
  t.teardown(() => fx.close());
  const big = randomBytes(BIG);
  await fx.publish({ 'payloads/big.bin': big, 'small.bin': 'small' });

  const good = await verify(fx);
  t.deepEqual(good.problems, []);
  t.deepEqual(good.checked, ['payloads/big.bin', 'small.bin']);
  t.is(good.payloads, 1);

  const url = `/tuf/targets/payloads/${createHash('sha256').update(big).digest('hex')}.big.bin`;
  const tampered = Buffer.from(big);
  tampered[BIG - 1] = (tampered[BIG - 1] ?? 0) ^ 0xff;
  fx.attack.set(url, tampered);
  const changed = await verify(fx);
  t.false(changed.ok);
  t.deepEqual(changed.checked, ['small.bin']);
  t.regex(changed.problems.join('\n'), /^payloads\/big\.bin: Expected hash /m);

  fx.attack.set(url, Buffer.concat([big, Buffer.from('more')]));
  const longer = await verify(fx);
  t.false(longer.ok);
  t.regex(longer.problems.join('\n'), /^payloads\/big\.bin: .*over its signed length/m);
});
