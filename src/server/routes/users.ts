import type { Router } from 'express';
import type { Site } from '../../app.js';
import { UpcatError } from '../../errors.js';
import { normalizeName, passwordInput, roleInput } from '../../site/users.js';
import { parseWith } from '../../validation.js';
import { jsonBody } from '../middleware/body.js';
import { actorOf, requireScope } from '../middleware/token-auth.js';
import { decodeCursor, pageLimitOf, pageOf, sendJsonWithEtag } from '../paging.js';

type UsersSite = Pick<Site, 'tokens' | 'sessions' | 'users'>;

/**
 * People's accounts over HTTP (issue 14 item 4; docs/PROTOCOL.md "Users"), scope `admin`:
 * list (by name, keyset-paged), add, remove (its sessions end at once), change the role, set a
 * password (its sessions end). The last admin account can be neither removed nor demoted. The same service as `upcat users`.
 */
export function userRoutes(router: Router, site: UsersSite): void {
  const admin = requireScope(site, 'admin');
  const json = jsonBody(8 * 1024);
  // Not router.param('name'): the router is shared, and a param handler would check every
  // route's :name (payload signatures at /content/:name among them) as an account name.
  const nameOf = (params: Record<string, string | string[] | undefined>): string =>
    normalizeName(params['name']);

  router.get('/v1/users', admin, async (req, res) => {
    const limit = pageLimitOf(req.query['limit']);
    const cursor = req.query['cursor'];
    if (cursor !== undefined && typeof cursor !== 'string')
      throw new UpcatError('invalid_input', 'cursor: give it at most once');
    const after = cursor === undefined ? undefined : String(decodeCursor(cursor, 1)[0]);
    const rows = await site.users.list({ limit: limit + 1, after });
    const page = pageOf(rows, limit, (u) => [u.name]);
    sendJsonWithEtag(req, res, { users: page.items, next: page.next });
  });

  router.post('/v1/users', admin, json, async (req, res) => {
    res.status(201).json(await site.users.add(req.body, actorOf(res)));
  });

  router.delete('/v1/users/:name', admin, async (req, res) => {
    res.json(await site.users.remove(nameOf(req.params), actorOf(res)));
  });

  router.patch('/v1/users/:name', admin, json, async (req, res) => {
    const { role } = parseWith(roleInput, req.body ?? {}, 'role change');
    res.json(await site.users.setRole(nameOf(req.params), role, actorOf(res)));
  });

  router.post('/v1/users/:name/password', admin, json, async (req, res) => {
    const { password } = parseWith(passwordInput, req.body ?? {}, 'password change');
    res.json(await site.users.passwd(nameOf(req.params), password, actorOf(res)));
  });
}
