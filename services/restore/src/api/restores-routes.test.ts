import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiFixture, apiFixture, bearer, TOKENS } from './testing/api-fixture.js';

const PASSWORD = 'pw-Zq81xT';
const URL = `postgresql://restorer:${PASSWORD}@db.internal:5432/restored`;
const valid = (target: unknown = { time: '2026-11-22T08:00:00.123456Z' }) => ({
  source: 'main',
  target,
  into: { url: URL },
});

describe('POST /v1/restores', () => {
  let f: ApiFixture;
  beforeAll(async () => {
    f = await apiFixture();
  });
  afterAll(async () => {
    await f.app.close();
  });

  const post = (payload: unknown, headers: Record<string, string> = {}) =>
    f.app.inject({
      method: 'POST',
      url: '/v1/restores',
      headers: { ...bearer(TOKENS.restore), ...headers },
      ...(payload === undefined ? {} : { payload: payload as string }),
    });

  it('queues a restore: 202, the job, and its URL in Location', async () => {
    const res = await post(valid());
    expect(res.statusCode).toBe(202);
    const job = res.json();
    expect(job).toMatchObject({ id: expect.any(String), source: 'main', state: 'queued' });
    expect(res.headers.location).toBe(`/v1/restores/${job.id}`);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(f.restores.submitted.at(-1)).toEqual(valid());

    const again = await f.app.inject({ url: res.headers.location as string, headers: bearer(TOKENS.audit) });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(job);
    const list = await f.app.inject({ url: '/v1/restores', headers: bearer(TOKENS.audit) });
    expect(list.json().map((j: { id: string }) => j.id)).toContain(job.id);
  });

  it.each([
    [{ lsn: '16/B374D848' }],
    [{ lsn: '0/0' }],
    [{ latest: true }],
    [{ time: '2026-11-22T08:00:00Z' }],
    [{ time: '2026-11-22t09:00:00.5+01:00' }],
    [{ time: '2026-11-22 08:00:00.000001Z' }],
    [{ xid: 74211 }],
    [{ xid: '74211', inclusive: false }],
    [{ xid: '4294967296074211', inclusive: true }],
    [{ restorePoint: 'before-deploy_2026.11.23:v2' }],
  ])('accepts the target %j', async (target) => {
    const res = await post(valid(target));
    expect(res.statusCode, res.body).toBe(202);
  });

  it.each<[string, unknown, string]>([
    [
      'a word as time',
      valid({ time: 'yesterday' }),
      'target.time: expected RFC 3339 like 2026-11-23T10:41:07.123456Z',
    ],
    [
      'a time without zone',
      valid({ time: '2026-11-22T08:00:00' }),
      'target.time: a time zone is required (Z or ±hh:mm)',
    ],
    [
      'nanoseconds',
      valid({ time: '2026-11-22T08:00:00.123456789Z' }),
      'target.time: at most 6 fractional digits',
    ],
    ['February 30', valid({ time: '2026-02-30T08:00:00Z' }), 'target.time: day 30 is not 1-28'],
    ['hour 24', valid({ time: '2026-11-22T24:00:00Z' }), 'target.time: hour 24 is not 0-23'],
    ['a number as time', valid({ time: 1732266000 }), 'target.time: expected RFC 3339 like'],
    ['a bad LSN', valid({ lsn: '16-B374D848' }), 'target.lsn: expected an LSN like 16/B374D848'],
    ['a too long LSN', valid({ lsn: '123456789/0' }), 'target.lsn: expected an LSN like 16/B374D848'],
    ['latest: false', valid({ latest: false }), 'target.latest: expected true'],
    [
      'two targets',
      valid({ time: '2026-11-22T08:00:00Z', lsn: '0/1' }),
      'target: give exactly one of time, lsn, latest, xid or restorePoint (got time, lsn)',
    ],
    [
      'an empty target',
      valid({}),
      'target: expected one of {"time": "2026-11-23T10:41:07.123456Z"}, {"lsn": "16/B374D848"}, {"latest": true}, {"xid": 74211, "inclusive": true} or {"restorePoint": "before-deploy"}',
    ],
    ['an unknown target kind', valid({ txid: 42 }), 'target: expected one of {"time"'],
    ['an xid of words', valid({ xid: 'the bad one' }), 'target.xid: expected a transaction id'],
    ['a negative xid', valid({ xid: -5 }), 'target.xid: expected a transaction id'],
    ['a reserved xid', valid({ xid: 2 }), 'target.xid: not a normal transaction id'],
    ['an xid past 64 bits', valid({ xid: '18446744073709551616' }), 'target.xid: larger than a 64-bit'],
    [
      'inclusive as a string',
      valid({ xid: 42, inclusive: 'yes' }),
      'target.inclusive: expected true (stop just after the transaction) or false (just before it)',
    ],
    ['inclusive without xid', valid({ inclusive: true }), 'target: expected one of {"time"'],
    [
      'a restore point name with spaces',
      valid({ restorePoint: 'before deploy' }),
      'target.restorePoint: expected a restore point name',
    ],
    [
      'a restore point with xid',
      valid({ restorePoint: 'a', xid: 5 }),
      'target: give exactly one of time, lsn, latest, xid or restorePoint (got xid, restorePoint)',
    ],
    ['a string target', valid('latest'), 'target: expected an object: {"time"'],
    [
      'an extra key in target',
      valid({ latest: true, inclusive: false }),
      'target: unknown key "inclusive" (a target has exactly one key: time, lsn, latest or restorePoint; or xid with inclusive)',
    ],
    [
      'an unknown key',
      { ...valid(), tabels: ['public.orders'] },
      'body: unknown key "tabels" (allowed: source, target, from, into, tables)',
    ],
    [
      'an unknown key in into',
      { ...valid(), into: { url: URL, scheme: 'x' } },
      'into: unknown key "scheme" (allowed: url, schema)',
    ],
    [
      'a table without its schema',
      { ...valid(), tables: ['orders'] },
      'tables[0]: expected a qualified table name schema.table',
    ],
    [
      'into.schema without tables',
      { ...valid(), into: { url: URL, schema: 'restored_x' } },
      'tables: required with into.schema',
    ],
    [
      'a MySQL URL',
      { ...valid(), into: { url: `mysql://root:${PASSWORD}@db/x` } },
      'into.url: expected a postgres:// or postgresql:// URL like postgresql://user:<password>@host:5432/restored',
    ],
    [
      'a URL without database',
      { ...valid(), into: { url: `postgres://u:${PASSWORD}@db:5432` } },
      "into.url: name the database to restore into in the URL's path",
    ],
    [
      'not a URL',
      { ...valid(), into: { url: `host=db password=${PASSWORD}` } },
      'into.url: expected a postgres:// or postgresql:// URL',
    ],
    ['into as a string', { ...valid(), into: URL }, 'into: expected an object {"url": "postgres://..."}'],
    ['no target', { source: 'main', into: { url: URL } }, 'target: required'],
    ['no source', { target: { latest: true }, into: { url: URL } }, 'source: required'],
    ['an empty source', { ...valid(), source: '' }, 'source: expected a source name (a non-empty string)'],
    ['an array', [valid()], 'body: expected a JSON object'],
  ])('rejects %s with a precise 400', async (_what, body, message) => {
    const before = f.restores.submitted.length;
    const res = await post(body);
    expect(res.statusCode, res.body).toBe(400);
    const { error } = res.json();
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toContain(message);
    expect(error.details.problems.length).toBeGreaterThan(0);
    expect(res.body).not.toContain(PASSWORD);
    expect(f.restores.submitted.length).toBe(before);
  });

  it('lists every problem of a body at once', async () => {
    const res = await post({ source: '', target: { lsn: 'x' }, into: { url: 'ftp://x/y' }, extra: 1 });
    expect(res.statusCode).toBe(400);
    const paths = res.json().error.details.problems.map((p: { path: string }) => p.path);
    expect(paths.sort((a: string, b: string) => a.localeCompare(b))).toEqual([
      'body',
      'into.url',
      'source',
      'target.lsn',
    ]);
  });

  it('rejects a missing body', async () => {
    const res = await post(undefined);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'BAD_REQUEST' });
    expect(res.json().error.message).toMatch(/^the request body is required: a JSON object \{"source"/);
  });

  it('rejects an empty JSON body', async () => {
    const res = await post('', { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/^the request body is required/);
  });

  it('rejects malformed JSON, saying where, without quoting it', async () => {
    const res = await post(`{"source": "main", "into": {"url": "${URL}"} "target": {}}`, {
      'content-type': 'application/json',
    });
    expect(res.statusCode).toBe(400);
    const { error } = res.json();
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toMatch(/^the request body is not valid JSON: .*\(line 1, column \d+\)$/);
    expect(res.body).not.toContain(PASSWORD);
  });

  it('rejects JSON that is cut short', async () => {
    const res = await post('{"source": "main"', { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/^the request body is not valid JSON/);
  });

  it('rejects a __proto__ key', async () => {
    const res = await post('{"source":"main","__proto__":{"x":1}}', { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toContain('__proto__');
  });

  it('rejects another content type, naming the one to use', async () => {
    const res = await post('source=main', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toBe(
      'Content-Type application/x-www-form-urlencoded is not accepted: send the body as JSON with Content-Type: application/json',
    );
  });

  it('rejects a body over 64 KiB', async () => {
    const res = await post({ ...valid(), source: 'x'.repeat(70_000) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toContain('larger than 65536 bytes');
  });

  it('answers 404 UNKNOWN_SOURCE from the port', async () => {
    const res = await post({ ...valid(), source: 'nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({
      code: 'UNKNOWN_SOURCE',
      details: { source: 'nope', known: ['main'] },
    });
  });

  it.each([
    ['TARGET_BEFORE_WINDOW', '2026-01-01T00:00:00Z'],
    ['TARGET_AFTER_WINDOW', '2026-12-01T00:00:00Z'],
  ])('answers 422 %s with the window', async (code, time) => {
    const res = await post(valid({ time }));
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({
      code,
      message: expect.stringContaining(time),
      details: { earliest: '2026-11-20T00:00:00.000000Z', latest: '2026-11-23T10:41:07.123456Z' },
    });
  });
});

describe('GET /v1/restores', () => {
  let f: ApiFixture;
  beforeAll(async () => {
    f = await apiFixture();
  });
  afterAll(async () => {
    await f.app.close();
  });

  it('answers 404 UNKNOWN_RESTORE for an unknown id', async () => {
    const res = await f.app.inject({ url: '/v1/restores/r_404', headers: bearer(TOKENS.restore) });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('UNKNOWN_RESTORE');
  });

  it('lists nothing before any restore', async () => {
    const res = await f.app.inject({ url: '/v1/restores', headers: bearer(TOKENS.restore) });
    expect(res.json()).toEqual([]);
  });

  it('never shows a password or a token that a job error quotes', async () => {
    f.restores.jobs.set('r_failed', {
      id: 'r_failed',
      source: 'main',
      state: 'failed',
      progress: { phase: 'loading-snapshot' },
      createdAt: '2026-11-23T10:00:00.000000Z',
      target: { latest: true },
      error: {
        code: 'TARGET_UNREACHABLE',
        message: `could not connect to ${URL} (token ${TOKENS.admin})`,
        details: { url: URL, conninfo: `host=db password=${PASSWORD} dbname=x` },
      },
    });
    const res = await f.app.inject({ url: '/v1/restores/r_failed', headers: bearer(TOKENS.audit) });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain(PASSWORD);
    expect(res.body).not.toContain(TOKENS.admin);
    expect(res.json().error.message).toBe(
      'could not connect to postgresql://restorer:[REDACTED]@db.internal:5432/restored (token [REDACTED])',
    );
  });
});

describe('sources and verify', () => {
  let f: ApiFixture;
  beforeAll(async () => {
    f = await apiFixture();
  });
  afterAll(async () => {
    await f.app.close();
  });

  it('lists the sources with their window', async () => {
    const res = await f.app.inject({ url: '/v1/sources', headers: bearer(TOKENS.restore) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([f.sources.summaries.get('main')]);
  });

  it('passes through fields the spec does not list', async () => {
    f.sources.summaries.set('extra', {
      name: 'extra',
      earliestRestorableTime: null,
      latestRestorableTime: null,
      latestLsn: null,
      snapshotLsn: null,
      restorable: false,
      snapshots: 0,
    } as never);
    const res = await f.app.inject({ url: '/v1/sources/extra', headers: bearer(TOKENS.restore) });
    expect(res.json()).toMatchObject({ name: 'extra', restorable: false, snapshots: 0, latestLsn: null });
  });

  it('answers 404 UNKNOWN_SOURCE for an unknown source', async () => {
    const res = await f.app.inject({ url: '/v1/sources/nope', headers: bearer(TOKENS.restore) });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({ code: 'UNKNOWN_SOURCE', message: 'no source named "nope"' });
  });

  it('verifies a source: 200 and the report, also when it found problems', async () => {
    const ok = await f.app.inject({
      method: 'POST',
      url: '/v1/sources/main/verify',
      headers: bearer(TOKENS.audit),
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ ok: true, segments: 3, records: 120, problems: [] });

    f.verify.reports.set('broken', {
      ok: false,
      segments: 2,
      records: 10,
      firstLsn: '0/1',
      lastLsn: '0/9',
      problems: [
        { key: 'broken/segments/x.seg', offset: 812, kind: 'record-checksum', message: 'xxh64 mismatch' },
      ],
    });
    const bad = await f.app.inject({
      method: 'POST',
      url: '/v1/sources/broken/verify',
      headers: { ...bearer(TOKENS.audit), 'content-type': 'application/json' },
      payload: '',
    });
    expect(bad.statusCode).toBe(200);
    expect(bad.json().problems[0]).toEqual({
      key: 'broken/segments/x.seg',
      offset: 812,
      kind: 'record-checksum',
      message: 'xxh64 mismatch',
    });
  });

  it('answers 404 UNKNOWN_SOURCE when verifying an unknown source', async () => {
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/sources/nope/verify',
      headers: bearer(TOKENS.admin),
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('UNKNOWN_SOURCE');
  });
});
