import { randomBytes } from 'node:crypto';
import test from 'ava';
import { AnchorSealer, type AnchorState } from '../../../src/sync/anchor.js';

const state = (over: Partial<AnchorState> = {}): AnchorState => ({
  clientId: 'c-1',
  catalogVersion: 3,
  epoch: 1,
  status: 'approved',
  entries: { u: 'abc' },
  issued: 1_000_000,
  ...over,
});
const DAY = 86_400_000;

test('a sealed anchor opens for its client within its lifetime', (t) => {
  const s = new AnchorSealer(randomBytes(32), 7 * DAY);
  t.deepEqual(s.open(s.seal(state()), 'c-1', 1_000_000 + DAY), state());
});

test('tampered, foreign, other-client, expired, future and malformed anchors open to undefined', (t) => {
  const key = randomBytes(32);
  const s = new AnchorSealer(key, 7 * DAY);
  const text = s.seal(state());
  const at = 1_000_000 + DAY;
  for (let i = 3; i < text.length; i += 7) {
    const c = text[i] === 'A' ? 'B' : 'A';
    t.is(s.open(text.slice(0, i) + c + text.slice(i + 1), 'c-1', at), undefined, `byte ${i}`);
  }
  t.is(new AnchorSealer(randomBytes(32), 7 * DAY).open(text, 'c-1', at), undefined);
  t.is(s.open(text, 'c-2', at), undefined);
  t.is(s.open(text, 'c-1', 1_000_000 + 8 * DAY), undefined);
  t.is(s.open(s.seal(state({ issued: at + DAY })), 'c-1', at), undefined);
  for (const bad of [undefined, '', 'a1.', 'a1.!!!', 'b1.' + text.slice(3), text.slice(0, 20)])
    t.is(s.open(bad, 'c-1', at), undefined);
});
