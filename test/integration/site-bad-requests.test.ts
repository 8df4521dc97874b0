import type { Test } from 'supertest';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { register, registration } from '../helpers/clients.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { dbTest } from '../helpers/site.js';
import { bearer } from '../helpers/tokens.js';

/**
 * "Never a 500" where SQLite and PostgreSQL differ: PostgreSQL refuses a string longer than its
 * varchar column, an integer outside int4 and any NUL byte, where SQLite stores them. Each of
 * these once reached the database; each must be a 400 naming the field, on both databases, and
 * leave nothing stored.
 */

const msg = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'm-1',
  topic: 'client',
  state: 'cannot_reach_site',
  ...over,
});

/** 8 parts of 20 digits: a valid version of 167 characters, for a column of 64. */
const LONG_VERSION = Array.from({ length: 8 }, () => '1'.repeat(20)).join('.');

dbTest(
  'bad client requests that used to reach the database get a 400 naming the field',
  async (t, { site }) => {
    site.config.site.approval = 'auto-all';
    const app = createApp(site);
    const c = (await register(app, registration())).body;
    const u = await publishBytes(site, 'a1', fileManifest('a.bin'), 'a.bin');
    const admin = await bearer(site, 'admin');
    const auth = `Bearer ${c.secret}`;
    const csr =
      '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n\u0000';

    const cases: Array<[string, () => Test, RegExp]> = [
      ...(
        [
          [{ clientVersion: LONG_VERSION }, /clientVersion/],
          [{ hardwareId: 'hw\u0000x' }, /hardwareId/],
          [{ name: 'pc\u0000' }, /name/],
          [{ os: 'linux\u001b[2J' }, /os/],
          [{ group: 'Ring\u0000' }, /group/],
          [{ enrollmentToken: 'token\u0000' }, /enrollmentToken/],
          [{ csr }, /csr/],
        ] as const
      ).map(
        ([over, field]) =>
          [
            `register ${JSON.stringify(over).slice(0, 40)}`,
            () =>
              request(app)
                .post('/v1/clients')
                .send(registration({ hardwareId: 'hw-new', ...over })),
            field,
          ] as [string, () => Test, RegExp],
      ),
      [
        'status revision past int4',
        () =>
          request(app)
            .post('/v1/status')
            .set('Authorization', auth)
            .send({ messages: [msg({ revision: 2 ** 31 })] }),
        /revision/,
      ],
      [
        'fallback revision past int4 (no authentication)',
        () =>
          request(app)
            .post('/fsp/v1/status')
            .send({ messages: [msg({ revision: 2 ** 40 })] }),
        /revision/,
      ],
      [
        'fallback hardwareId with a NUL',
        () =>
          request(app)
            .post('/fsp/v1/status')
            .send({ hardwareId: 'hw\u0000', messages: [msg()] }),
        /hardwareId/,
      ],
      [
        'fallback name with an escape sequence',
        () =>
          request(app)
            .post('/fsp/v1/status')
            .send({ name: 'pc\u001b]0;owned\u0007', messages: [msg()] }),
        /name/,
      ],
      [
        'status detail with a NUL',
        () =>
          request(app)
            .post('/v1/status')
            .set('Authorization', auth)
            .send({ messages: [msg({ detail: 'exit\u0000' })] }),
        /detail/,
      ],
      [
        'admin approve of client %00',
        () => request(app).post('/v1/clients/%00/approve').set('Authorization', admin),
        /clientId/,
      ],
      [
        'admin block of a client ID past any ID',
        () =>
          request(app)
            .post(`/v1/clients/${'a'.repeat(65)}/block`)
            .set('Authorization', admin),
        /clientId/,
      ],
      [
        'admin resolve of client %00',
        () =>
          request(app)
            .post('/v1/clients/%00/resolve')
            .set('Authorization', admin)
            .send({ how: 'new' }),
        /clientId/,
      ],
      [
        'history of client %00',
        () => request(app).get('/v1/reports/clients/%00/history').set('Authorization', admin),
        /clientId/,
      ],
      [
        'expiry of update %00',
        () => request(app).post('/v1/updates/%00/expire').set('Authorization', admin),
        /updateId/,
      ],
      [
        'certificate of client %00',
        () => request(app).get('/v1/clients/%00/certificate').set('Authorization', auth),
        /clientId/,
      ],
      [
        'deployment to a group with a NUL',
        () =>
          request(app)
            .post('/v1/deployments')
            .set('Authorization', admin)
            .send({ updateId: u.updateId, group: 'Ring\u0000', action: 'install' }),
        /group/,
      ],
      [
        'deployment with a deadline of 100 characters',
        () =>
          request(app)
            .post('/v1/deployments')
            .set('Authorization', admin)
            .send({
              updateId: u.updateId,
              group: 'All Computers',
              action: 'install',
              deadline: `2030-01-01${'0'.repeat(90)}`,
            }),
        /deadline/,
      ],
    ];
    for (const [what, send, field] of cases) {
      const res = await send();
      t.is(res.status, 400, `${what}: ${res.status} ${res.text}`);
      t.is((res.body as { error?: { code?: string } }).error?.code, 'invalid_input', what);
      t.regex((res.body as { error: { message: string } }).error.message, field, what);
    }

    // Nothing of it was stored.
    t.is((await site.clients.list()).length, 1);
    t.is((await site.deployments.list()).length, 0);
    t.deepEqual(await site.db('state_messages').select('message_id'), []);
    // Line breaks and tabs are free text, and stored.
    await request(app)
      .post('/v1/status')
      .set('Authorization', auth)
      .send({ messages: [msg({ detail: 'line one\n\tline two', revision: 2 ** 31 - 1 })] })
      .expect(202);
  },
);
