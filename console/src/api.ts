/**
 * The console's only way to the server: the public admin API under /v1, with the session cookie
 * (sent by the browser, HttpOnly) and the CSRF token the session gave, on every change.
 */
export interface User {
  name: string;
  role: 'admin' | 'operator' | 'viewer';
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken: string | undefined;
let onSessionLost: () => void = () => undefined;

export function whenSessionLost(handler: () => void): void {
  onSessionLost = handler;
}

export async function request<T>(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== undefined) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'unreachable', 'the server does not answer; check the connection');
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    const failure = new ApiError(
      res.status,
      err?.code ?? 'http_' + res.status,
      err?.message ?? `${res.status} ${res.statusText}`,
    );
    // An expired or revoked session: back to the login form (the view keeps what was typed).
    if (res.status === 401 && path !== '/v1/session') onSessionLost();
    throw failure;
  }
  return parsed as T;
}

export async function currentUser(): Promise<User | undefined> {
  try {
    const s = await request<{ user: User; csrfToken: string }>('GET', '/v1/session');
    csrfToken = s.csrfToken;
    return s.user;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return undefined;
    throw err;
  }
}

export async function logIn(name: string, password: string): Promise<User> {
  const s = await request<{ user: User; csrfToken: string }>('POST', '/v1/session', {
    name,
    password,
  });
  csrfToken = s.csrfToken;
  return s.user;
}

export async function logOut(): Promise<void> {
  try {
    await request('DELETE', '/v1/session');
  } finally {
    csrfToken = undefined;
  }
}

/** A query string from the filters that are set. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}
