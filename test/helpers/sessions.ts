import type { Express } from 'express';
import request from 'supertest';
import type { Site } from '../../src/app.js';
import type { Role } from '../../src/site/users.js';

export const PASSWORD = 'correct horse battery';

/** A person logged in: the Cookie header to send and the CSRF token for changes. */
export interface LoggedIn {
  cookie: string;
  csrf: string;
  setCookie: string;
}

/** Adds an account of the role (password PASSWORD) and logs it in over HTTP. */
export async function loginAs(
  site: Pick<Site, 'users'>,
  app: Express,
  name: string,
  role: Role,
): Promise<LoggedIn> {
  await site.users.add({ name, role, password: PASSWORD }, 'test');
  return login(app, name, PASSWORD);
}

export async function login(app: Express, name: string, password: string): Promise<LoggedIn> {
  const res = await request(app).post('/v1/session').send({ name, password });
  if (res.status !== 200) throw new Error(`login ${name}: ${res.status} ${res.text}`);
  const setCookie = String((res.headers['set-cookie'] as unknown as string[])[0]);
  return {
    cookie: setCookie.split(';')[0] ?? '',
    csrf: (res.body as { csrfToken: string }).csrfToken,
    setCookie,
  };
}
