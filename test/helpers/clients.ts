import type { Express } from 'express';
import request from 'supertest';

/** A valid registration body; override any field. */
export function registration(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hardwareId: 'hw-0001',
    name: 'pc-0001',
    os: 'linux debian 12',
    architecture: 'x64',
    clientVersion: '1.0.0',
    ...over,
  };
}

export interface RegisterAnswer {
  status: number;
  body: {
    clientId: string;
    secret: string;
    status: string;
    error?: { code: string; message: string };
  };
}

export async function register(
  app: Express,
  body: Record<string, unknown>,
  secret?: string,
): Promise<RegisterAnswer> {
  const req = request(app).post('/v1/clients').send(body);
  if (secret !== undefined) req.set('Authorization', `Bearer ${secret}`);
  const res = await req;
  return { status: res.status, body: res.body as RegisterAnswer['body'] };
}
