import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_DURATION_METRIC, HTTP_REQUESTS_METRIC } from './http-metrics.js';
import { type ApiFixture, apiFixture, bearer, TOKENS } from './testing/api-fixture.js';

describe('health, readiness and metrics', () => {
  let f: ApiFixture;
  beforeAll(async () => {
    f = await apiFixture();
  });
  afterAll(async () => {
    await f.app.close();
  });

  it('/healthz answers 200 {status: ok}, and 503 when the process is broken', async () => {
    const res = await f.app.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
    f.health.alive = false;
    const broken = await f.app.inject({ url: '/healthz' });
    f.health.alive = true;
    expect(broken.statusCode).toBe(503);
  });

  it('/readyz answers 200 with the checks, and 503 naming the failed one', async () => {
    const ok = await f.app.inject({ url: '/readyz' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ status: 'ready', checks: { journal: { ok: true } } });

    f.health.checks = {
      journal: { ok: true },
      store: { ok: false, detail: 'object store unreachable: ECONNREFUSED' },
    };
    const res = await f.app.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      status: 'not-ready',
      checks: {
        journal: { ok: true },
        store: { ok: false, detail: 'object store unreachable: ECONNREFUSED' },
      },
    });
  });

  it('/metrics serves the registry in Prometheus text format, with HTTP metrics per route and status', async () => {
    await f.app.inject({ url: '/v1/sources', headers: bearer(TOKENS.audit) });
    await f.app.inject({ url: '/v1/restores/r_9', headers: bearer(TOKENS.audit) });
    await f.app.inject({ url: '/nowhere' });
    const res = await f.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toContain(`# TYPE ${HTTP_DURATION_METRIC} histogram`);
    expect(res.body).toContain(
      `${HTTP_REQUESTS_METRIC}{method="GET",route="/v1/sources",status_code="200"} 1`,
    );
    expect(res.body).toContain(
      `${HTTP_REQUESTS_METRIC}{method="GET",route="/v1/restores/:id",status_code="404"} 1`,
    );
    expect(res.body).toContain(`${HTTP_REQUESTS_METRIC}{method="GET",route="unmatched",status_code="404"} 1`);
  });

  it('a second API on the same registry reuses the metrics', async () => {
    const { buildApi } = await import('./build-api.js');
    const again = await buildApi({
      sources: f.sources,
      restores: f.restores,
      verify: f.verify,
      health: f.health,
      tokens: [{ name: 'x', role: 'admin', token: 'tmk_x' }],
      metricsRegistry: f.registry,
      logger: false,
    });
    await again.close();
  });
});

describe('OpenAPI and Swagger UI', () => {
  let f: ApiFixture;
  beforeAll(async () => {
    f = await apiFixture();
  });
  afterAll(async () => {
    await f.app.close();
  });

  it('/docs serves the Swagger UI page', async () => {
    const res = await f.app.inject({ url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('swagger-ui');
  });

  it('/docs/json documents every route, the bearer scheme, and which routes need no token', async () => {
    const res = await f.app.inject({ url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths).sort((a: string, b: string) => a.localeCompare(b))).toEqual([
      '/healthz',
      '/metrics',
      '/readyz',
      '/v1/restores',
      '/v1/restores/{id}',
      '/v1/restores/{id}/events',
      '/v1/sources',
      '/v1/sources/{source}',
      '/v1/sources/{source}/restore-points',
      '/v1/sources/{source}/verify',
    ]);
    expect(Object.keys(doc.paths['/v1/restores']).sort((a: string, b: string) => a.localeCompare(b))).toEqual(
      ['get', 'post'],
    );
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.paths['/v1/sources'].get.security).toBeUndefined();
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining([
        'Error',
        'Source',
        'RestoreJob',
        'RestoreProgress',
        'RestorePlan',
        'RestorePoint',
        'CreatedRestorePoint',
        'VerifyReport',
      ]),
    );

    const post = doc.paths['/v1/restores'].post;
    const body = post.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['source', 'target', 'into']);
    expect(body.additionalProperties).toBe(false);
    expect(body.properties.target.anyOf).toHaveLength(5);
    expect(Object.keys(post.responses)).toEqual(
      expect.arrayContaining(['202', '400', '401', '403', '404', '422']),
    );
    expect(post.responses['422'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
    expect(post.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual(
      expect.arrayContaining(['query:dryRun', 'header:idempotency-key']),
    );
    expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['200', '202', '409']));

    expect(Object.keys(doc.paths['/v1/restores/{id}']).sort((a, b) => a.localeCompare(b))).toEqual([
      'delete',
      'get',
    ]);
    const events = doc.paths['/v1/restores/{id}/events'].get;
    expect(Object.keys(events.responses['200'].content)).toEqual(['text/event-stream']);
    const points = doc.paths['/v1/sources/{source}/restore-points'];
    expect(Object.keys(points).sort((a, b) => a.localeCompare(b))).toEqual(['get', 'post']);
    expect(points.post.requestBody.content['application/json'].schema.properties.name.pattern).toBe(
      '^[A-Za-z0-9._:-]{1,63}$',
    );
    expect(Object.keys(points.post.responses)).toEqual(expect.arrayContaining(['201', '409', '422']));
    expect(doc.components.schemas.RestoreProgress.properties).toHaveProperty('etaSeconds');
  });
});

describe('unknown routes and request ids', () => {
  let f: ApiFixture;
  beforeAll(async () => {
    f = await apiFixture();
  });
  afterAll(async () => {
    await f.app.close();
  });

  it('answers an unknown path with 404 and what the API serves', async () => {
    const res = await f.app.inject({ url: '/v1/snapshots' });
    expect(res.statusCode).toBe(404);
    const { error } = res.json();
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('no route GET /v1/snapshots');
    expect(error.message).toContain('POST /v1/restores');
    expect(error.message).toContain('/docs');
  });

  it('answers a known path with the wrong method with 404 naming the right one', async () => {
    const res = await f.app.inject({
      method: 'PUT',
      url: '/v1/restores/r_1',
      headers: bearer(TOKENS.admin),
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({
      code: 'NOT_FOUND',
      message: 'PUT is not supported on /v1/restores/r_1: use DELETE or GET (API reference at /docs)',
      details: { allowedMethods: ['DELETE', 'GET'] },
    });
  });

  it('gives each request an id, or keeps the one the client sent', async () => {
    const a = await f.app.inject({ url: '/healthz' });
    expect(a.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const b = await f.app.inject({ url: '/healthz', headers: { 'x-request-id': 'trace-42.a' } });
    expect(b.headers['x-request-id']).toBe('trace-42.a');
    const c = await f.app.inject({ url: '/healthz', headers: { 'x-request-id': 'bad id\nwith newline' } });
    expect(c.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('logging', () => {
  const PASSWORD = 'pw-Log-77zq';
  let f: ApiFixture;
  beforeAll(async () => {
    f = await apiFixture({ logger: (stream) => pino({ level: 'trace' }, stream) });
    f.verify.verify = async () => {
      throw new Error(`store exploded reading postgres://u:${PASSWORD}@h/db with ${TOKENS.admin}`);
    };
  });
  afterAll(async () => {
    await f.app.close();
  });

  it('writes JSON lines with the request id, and never a token or a password', async () => {
    const url = `postgresql://restorer:${PASSWORD}@db:5432/restored`;
    const responses = [
      await f.app.inject({
        method: 'POST',
        url: '/v1/restores',
        headers: { ...bearer(TOKENS.restore), 'x-request-id': 'req-restore-1' },
        payload: { source: 'main', target: { latest: true }, into: { url } },
      }),
      await f.app.inject({
        method: 'POST',
        url: '/v1/restores',
        headers: bearer(TOKENS.restore),
        payload: { source: 'main', target: { latest: true }, into: { url: `mysql://r:${PASSWORD}@db/x` } },
      }),
      await f.app.inject({
        method: 'POST',
        url: '/v1/restores',
        headers: { ...bearer(TOKENS.restore), 'content-type': 'application/json' },
        payload: `{"into": {"url": "${url}"`,
      }),
      await f.app.inject({ url: '/v1/sources', headers: bearer(TOKENS.audit) }),
      await f.app.inject({ url: '/v1/sources', headers: bearer('tmk_wrong_token_9f8e7d') }),
      await f.app.inject({ url: '/v1/sources', headers: { authorization: TOKENS.admin } }),
      await f.app.inject({ url: `/v1/sources?token=${TOKENS.admin}`, headers: bearer(TOKENS.audit) }),
      await f.app.inject({ url: `/v1/${TOKENS.admin}`, headers: bearer(TOKENS.audit) }),
      await f.app.inject({ method: 'POST', url: '/v1/sources/main/verify', headers: bearer(TOKENS.audit) }),
    ];
    expect(responses.map((r) => r.statusCode)).toEqual([202, 400, 400, 200, 401, 401, 200, 404, 500]);

    const internal = responses.at(-1)!.json().error;
    expect(internal.code).toBe('INTERNAL');
    expect(internal.message).toMatch(/^internal error: the server log has the details under request id /);
    expect(JSON.stringify(internal)).not.toContain('exploded');

    const lines = f.logLines;
    expect(lines.length).toBeGreaterThan(10);
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.some((e) => e.reqId === 'req-restore-1' && e.msg === 'restore submitted')).toBe(true);
    expect(
      entries.some((e) => e.msg === 'request failed' && JSON.stringify(e.err).includes('exploded')),
    ).toBe(true);
    const all = lines.join('\n');
    for (const secret of [TOKENS.admin, TOKENS.restore, TOKENS.audit, 'tmk_wrong_token_9f8e7d', PASSWORD]) {
      expect(all).not.toContain(secret);
    }
    expect(all).not.toMatch(/authorization"?\s*:\s*"bearer/i);
    if (process.env.SHOW_API_LOGS) console.log(all);
  });
});
