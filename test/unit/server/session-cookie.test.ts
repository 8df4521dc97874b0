import test from 'ava';
import { sessionCookieOf } from '../../../src/server/middleware/session-cookie.js';

const ID = 'A'.repeat(40) + 'b_-';

test('session cookie: read from among other cookies, exactly by name', (t) => {
  t.is(sessionCookieOf(`upcat_session=${ID}`), ID);
  t.is(sessionCookieOf(`theme=dark; upcat_session=${ID}; lang=en`), ID);
  t.is(sessionCookieOf(`theme=dark;upcat_session=${ID}`), ID);
  t.is(sessionCookieOf(undefined), undefined);
  t.is(sessionCookieOf('theme=dark'), undefined);
  t.is(sessionCookieOf(`xupcat_session=${ID}`), undefined);
  t.is(sessionCookieOf(`upcat_session_old=${ID}`), undefined);
});

test('session cookie: anything but one well-formed session id is no session', (t) => {
  for (const header of [
    `upcat_session=${ID}; upcat_session=${ID}`, // twice: which one was meant cannot be known
    `upcat_session="${ID}"`,
    `upcat_session=${ID.slice(1)}`,
    `upcat_session=${ID}x`,
    `upcat_session=${ID.slice(0, -3)}%41%41%41`,
    `upcat_session=j:${ID}`,
    'upcat_session=',
    `upcat_session=${ID}; ${'x'.repeat(9000)}`,
  ])
    t.is(sessionCookieOf(header), undefined, header.slice(0, 80));
});
