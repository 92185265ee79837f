import { isTidemarkError } from '@tidemark/shared';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiRole } from './api-ports.js';
import { buildApi } from './build-api.js';
import { type ApiFixture, apiFixture, bearer, MAIN_SOURCE, TOKENS } from './testing/api-fixture.js';
import {
  InMemoryHealth,
  InMemoryRestores,
  InMemorySources,
  InMemoryVerify,
} from './testing/in-memory-ports.js';

const RESTORE_BODY = {
  source: 'main',
  target: { time: '2026-11-22T08:00:00.000000Z' },
  into: { url: 'postgresql://restorer:s3cret@db.internal:5432/restored' },
};

interface RouteCase {
  method: 'GET' | 'POST';
  url: string;
  body?: unknown;
  allowed: ApiRole[];
  success: number;
}

const ROUTES: RouteCase[] = [
  { method: 'GET', url: '/v1/sources', allowed: ['restore', 'audit', 'admin'], success: 200 },
  { method: 'GET', url: '/v1/sources/main', allowed: ['restore', 'audit', 'admin'], success: 200 },
  { method: 'POST', url: '/v1/restores', body: RESTORE_BODY, allowed: ['restore', 'admin'], success: 202 },
  { method: 'GET', url: '/v1/restores', allowed: ['restore', 'audit', 'admin'], success: 200 },
  { method: 'GET', url: '/v1/restores/r_1', allowed: ['restore', 'audit', 'admin'], success: 200 },
  { method: 'POST', url: '/v1/sources/main/verify', allowed: ['audit', 'admin'], success: 200 },
];
const ROLES: ApiRole[] = ['restore', 'audit', 'admin'];

describe('API authentication and roles', () => {
  let f: ApiFixture;
  beforeAll(async () => {
    f = await apiFixture();
    await f.restores.submit({ source: 'main', target: { latest: true }, into: { url: 'postgres://h/db' } });
  });
  afterAll(async () => {
    await f.app.close();
  });

  describe.each(ROUTES)('$method $url', (route) => {
    const send = (headers: Record<string, string>) =>
      f.app.inject({
        method: route.method,
        url: route.url,
        headers,
        ...(route.body ? { payload: route.body } : {}),
      });

    it('answers 401 without an Authorization header, saying how to send one and where tokens come from', async () => {
      const res = await send({});
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="tidemark"');
      const { error } = res.json();
      expect(error.code).toBe('UNAUTHENTICATED');
      expect(error.message).toContain('Authorization: Bearer <token>');
      expect(error.message).toContain('TIDEMARK_API_TOKENS');
      expect(error.details).toEqual({});
    });

    it.each([
      ['another scheme', `Basic ${Buffer.from(`ops:${TOKENS.admin}`).toString('base64')}`],
      ['a bare token', TOKENS.admin],
      ['Bearer without a token', 'Bearer '],
      ['a token with a space', `Bearer ${TOKENS.admin} extra`],
    ])('answers 401 to a malformed header (%s) without echoing it', async (_what, header) => {
      const res = await send({ authorization: header });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('UNAUTHENTICATED');
      expect(res.json().error.message).toContain('Bearer <token>');
      expect(res.body).not.toContain(TOKENS.admin);
    });

    it('answers 401 to an unknown token without echoing it', async () => {
      const res = await send(bearer('tmk_not_a_configured_token'));
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toMatchObject({ code: 'UNAUTHENTICATED' });
      expect(res.json().error.message).toMatch(/not valid/);
      expect(res.body).not.toContain('tmk_not_a_configured_token');
    });

    it('rejects a token that is a prefix or an extension of a configured one', async () => {
      expect((await send(bearer(TOKENS.admin.slice(0, -1)))).statusCode).toBe(401);
      expect((await send(bearer(`${TOKENS.admin}0`))).statusCode).toBe(401);
    });

    it.each(ROLES)('role %s', async (role) => {
      const res = await send(bearer(TOKENS[role]));
      if (route.allowed.includes(role)) {
        expect(res.statusCode, res.body).toBe(route.success);
      } else {
        expect(res.statusCode).toBe(403);
        const { error } = res.json();
        expect(error.code).toBe('FORBIDDEN');
        expect(error.message).toContain(`has the role ${role}`);
        expect(error.message).toContain(`needs the role ${route.allowed.join(' or ')}`);
        expect(error.details).toEqual({ role, rolesAllowed: route.allowed });
      }
    });
  });

  it('accepts the scheme in any case', async () => {
    const res = await f.app.inject({
      url: '/v1/sources',
      headers: { authorization: `bearer ${TOKENS.audit}` },
    });
    expect(res.statusCode).toBe(200);
  });

  it('a forbidden request changes nothing', async () => {
    const before = f.restores.submitted.length;
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/restores',
      headers: bearer(TOKENS.audit),
      payload: RESTORE_BODY,
    });
    expect(res.statusCode).toBe(403);
    expect(f.restores.submitted.length).toBe(before);
  });

  it.each(['/healthz', '/readyz', '/metrics', '/docs', '/docs/json', '/docs/static/swagger-ui.css'])(
    '%s needs no token',
    async (url) => {
      const res = await f.app.inject({ url });
      expect(res.statusCode).toBe(200);
    },
  );
});

describe('API token configuration', () => {
  const build = (tokens: { name: string; role: ApiRole; token: string }[]) => {
    const sources = new InMemorySources([MAIN_SOURCE]);
    return buildApi({
      sources,
      restores: new InMemoryRestores(sources),
      verify: new InMemoryVerify(),
      health: new InMemoryHealth(),
      tokens,
      metricsRegistry: new Registry(),
      logger: false,
    });
  };

  it('refuses to start without tokens', async () => {
    await expect(build([])).rejects.toSatisfy(
      (err) => isTidemarkError(err, 'CONFIG_INVALID') && err.message.includes('TIDEMARK_API_TOKENS'),
    );
  });

  it('refuses a token configured twice, without quoting it', async () => {
    const err = await build([
      { name: 'a', role: 'audit', token: 'tmk_same_token_value' },
      { name: 'b', role: 'admin', token: 'tmk_same_token_value' },
    ]).catch((e: unknown) => e);
    expect(isTidemarkError(err, 'CONFIG_INVALID')).toBe(true);
    expect(String((err as Error).message)).toContain('"b" is configured twice');
    expect(String((err as Error).message)).not.toContain('tmk_same_token_value');
  });

  it('refuses an empty token or an unknown role', async () => {
    await expect(build([{ name: 'a', role: 'admin', token: '' }])).rejects.toThrow(/"a" is empty/);
    await expect(build([{ name: 'a', role: 'root' as ApiRole, token: 'tmk_x' }])).rejects.toThrow(
      /unknown role "root"/,
    );
  });
});
