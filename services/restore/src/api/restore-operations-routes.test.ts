import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ApiFixture, apiFixture, bearer, TOKENS } from './testing/api-fixture.js';

const URL = 'postgresql://restorer:pw-Zq81xT@db.internal:5432/restored';
const body = (target: unknown = { latest: true }) => ({ source: 'main', target, into: { url: URL } });

let f: ApiFixture;
beforeEach(async () => {
  f = await apiFixture({ eventsMinIntervalMs: 0 });
});
afterEach(async () => {
  await f.app.close();
});

const post = (payload: unknown, headers: Record<string, string> = {}, url = '/v1/restores') =>
  f.app.inject({
    method: 'POST',
    url,
    headers: { ...bearer(TOKENS.restore), ...headers },
    payload: payload as object,
  });

describe('POST /v1/sources/:source/restore-points', () => {
  const create = (name: unknown, token: string = TOKENS.restore, source = 'main') =>
    f.app.inject({
      method: 'POST',
      url: `/v1/sources/${source}/restore-points`,
      headers: bearer(token),
      payload: { name } as object,
    });

  it('creates a restore point: 201 with its name, LSN and time; listed afterwards', async () => {
    const res = await create('before-deploy_2026.11.23:v2');
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      name: 'before-deploy_2026.11.23:v2',
      lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/),
      createdAt: expect.any(String),
    });
    const list = await f.app.inject({
      url: '/v1/sources/main/restore-points',
      headers: bearer(TOKENS.audit),
    });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual([expect.objectContaining({ name: 'before-deploy_2026.11.23:v2' })]);
  });

  it('answers 409 for a name that exists, 400 for a bad name or body, 404 for an unknown source', async () => {
    expect((await create('rp1')).statusCode).toBe(201);
    const dup = await create('rp1');
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('CONFLICT');
    for (const bad of ['has space', '', 'x'.repeat(64), 'ünicode', 7]) {
      const res = await create(bad);
      expect(res.statusCode, String(bad)).toBe(400);
      expect(res.json().error.message).toMatch(/^name: expected a restore point name: 1 to 63 characters/);
    }
    const extra = await f.app.inject({
      method: 'POST',
      url: '/v1/sources/main/restore-points',
      headers: bearer(TOKENS.restore),
      payload: { name: 'ok', lsn: '0/1' },
    });
    expect(extra.json().error.message).toBe('body: unknown key "lsn" (allowed: name)');
    expect((await create('rp2', TOKENS.restore, 'nope')).statusCode).toBe(404);
  });

  it('answers 422 SOURCE_NOT_READY where the source URL is not configured', async () => {
    f.restorePoints.writable.clear();
    const res = await create('rp3');
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({
      code: 'SOURCE_NOT_READY',
      message: expect.stringContaining('restore points must be created where the source URL'),
    });
  });

  it('needs the restore or admin role to create; audit may list', async () => {
    expect((await create('rp4', TOKENS.audit)).statusCode).toBe(403);
    expect((await create('rp4', TOKENS.admin)).statusCode).toBe(201);
    const list = await f.app.inject({
      url: '/v1/sources/main/restore-points',
      headers: bearer(TOKENS.audit),
    });
    expect(list.statusCode).toBe(200);
    const unknown = await f.app.inject({
      url: '/v1/sources/nope/restore-points',
      headers: bearer(TOKENS.restore),
    });
    expect(unknown.statusCode).toBe(404);
  });
});

describe('POST /v1/restores?dryRun=true', () => {
  it('answers 200 with the plan and queues nothing', async () => {
    const res = await post(body({ restorePoint: 'before-deploy' }), {}, '/v1/restores?dryRun=true');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      dryRun: true,
      source: 'main',
      segments: 3,
      totalBytes: 4 * 1024 * 1024,
    });
    expect(res.headers.location).toBeUndefined();
    expect(f.restores.submitted).toEqual([]);
    expect(f.restores.planned).toHaveLength(1);
    expect(f.restores.list()).toEqual([]);
  });

  it('checks the request as a real one would be, and refuses a bad dryRun value', async () => {
    const early = await post(body({ time: '2026-01-01T00:00:00Z' }), {}, '/v1/restores?dryRun=true');
    expect(early.statusCode).toBe(422);
    const bad = await post(body(), {}, '/v1/restores?dryRun=maybe');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toBe('dryRun must be true or false');
    const off = await post(body(), {}, '/v1/restores?dryRun=false');
    expect(off.statusCode).toBe(202);
  });

  it('is refused to the audit role like a real restore', async () => {
    const res = await post(body(), bearer(TOKENS.audit), '/v1/restores?dryRun=true');
    expect(res.statusCode).toBe(403);
  });
});

describe('Idempotency-Key', () => {
  it('answers the first restore again for a repeated request (200), CONFLICT for another body', async () => {
    const first = await post(body(), { 'idempotency-key': 'req-7f3a' });
    expect(first.statusCode).toBe(202);
    expect(first.json().idempotencyKey).toBe('req-7f3a');
    const again = await post(body(), { 'idempotency-key': 'req-7f3a' });
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(first.json().id);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers.location).toBe(`/v1/restores/${first.json().id}`);
    const other = await post(body({ lsn: '16/B0000000' }), { 'idempotency-key': 'req-7f3a' });
    expect(other.statusCode).toBe(409);
    expect(other.json().error.code).toBe('CONFLICT');
    expect(f.restores.submitted).toHaveLength(1);
    const bad = await post(body(), { 'idempotency-key': 'two words' });
    expect(bad.statusCode).toBe(400);
  });
});

describe('DELETE /v1/restores/:id', () => {
  it('cancels: 200 with the cancelled restore, 409 once it ended, 404 for an unknown id', async () => {
    const { id } = (await post(body())).json();
    const res = await f.app.inject({
      method: 'DELETE',
      url: `/v1/restores/${id}`,
      headers: bearer(TOKENS.restore),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, state: 'cancelled', error: { code: 'CANCELLED' } });
    const again = await f.app.inject({
      method: 'DELETE',
      url: `/v1/restores/${id}`,
      headers: bearer(TOKENS.admin),
    });
    expect(again.statusCode).toBe(409);
    const unknown = await f.app.inject({
      method: 'DELETE',
      url: '/v1/restores/r_x',
      headers: bearer(TOKENS.admin),
    });
    expect(unknown.statusCode).toBe(404);
  });

  it('answers 202 while the restore is still stopping', async () => {
    const { id } = (await post(body())).json();
    f.restores.cancel = async (jobId) =>
      f.restores.update(jobId, { state: 'running', progress: { phase: 'cancelling' } });
    const res = await f.app.inject({
      method: 'DELETE',
      url: `/v1/restores/${id}`,
      headers: bearer(TOKENS.restore),
    });
    expect(res.statusCode).toBe(202);
    expect(res.json().progress.phase).toBe('cancelling');
  });

  it('is refused to the audit role', async () => {
    const { id } = (await post(body())).json();
    const res = await f.app.inject({
      method: 'DELETE',
      url: `/v1/restores/${id}`,
      headers: bearer(TOKENS.audit),
    });
    expect(res.statusCode).toBe(403);
  });
});

interface SseEvent {
  id: string;
  event: string;
  data: { id: string; state: string; progress: Record<string, unknown> };
}

function parseEvents(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '' && !block.startsWith(':'))
    .map((block) => {
      const fields = Object.fromEntries(
        block
          .split('\n')
          .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
      );
      return { id: fields.id, event: fields.event, data: JSON.parse(fields.data ?? 'null') } as SseEvent;
    });
}

describe('GET /v1/restores/:id/events', () => {
  it('streams the view now and on each change, then the final state, and closes', async () => {
    const { id } = (await post(body())).json();
    const response = f.app.inject({ url: `/v1/restores/${id}/events`, headers: bearer(TOKENS.audit) });
    for (let i = 0; i < 100 && f.restores.watcherCount(id) === 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    f.restores.update(id, { state: 'running', progress: { phase: 'loading-snapshot', bytesDone: 10 } });
    f.restores.update(id, { progress: { phase: 'replaying', bytesDone: 20, etaSeconds: 3 } });
    f.restores.update(id, { state: 'succeeded', progress: { phase: 'done', bytesDone: 30 } });
    // a change after the end is not sent
    f.restores.update(id, { progress: { phase: 'done', bytesDone: 99 } });
    const res = await response;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    const events = parseEvents(res.body);
    expect(events.map((e) => [e.id, e.event, e.data.state, e.data.progress.phase])).toEqual([
      ['1', 'progress', 'queued', 'queued'],
      ['2', 'progress', 'running', 'loading-snapshot'],
      ['3', 'progress', 'running', 'replaying'],
      ['4', 'end', 'succeeded', 'done'],
    ]);
    expect(f.restores.watcherCount(id)).toBe(0);
  });

  it('sends the newest view at most once per interval', async () => {
    await f.app.close();
    f = await apiFixture({ eventsMinIntervalMs: 10_000 });
    const { id } = (await post(body())).json();
    const response = f.app.inject({ url: `/v1/restores/${id}/events`, headers: bearer(TOKENS.audit) });
    for (let i = 0; i < 100 && f.restores.watcherCount(id) === 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    for (let n = 1; n <= 50; n++) f.restores.update(id, { state: 'running', progress: { bytesDone: n } });
    f.restores.update(id, { state: 'failed', error: { code: 'RESTORE_FAILED', message: 'x' } });
    const events = parseEvents((await response).body);
    expect(events.map((e) => e.event)).toEqual(['progress', 'end']);
    expect(events[1]?.data.state).toBe('failed');
  });

  it('answers one end event for a restore that already ended, 404 for an unknown one', async () => {
    const { id } = (await post(body())).json();
    f.restores.update(id, { state: 'cancelled' });
    const res = await f.app.inject({ url: `/v1/restores/${id}/events`, headers: bearer(TOKENS.restore) });
    expect(parseEvents(res.body).map((e) => [e.event, e.data.state])).toEqual([['end', 'cancelled']]);
    const unknown = await f.app.inject({ url: '/v1/restores/r_x/events', headers: bearer(TOKENS.restore) });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('UNKNOWN_RESTORE');
  });

  it('ends open streams when the server closes', async () => {
    const { id } = (await post(body())).json();
    const response = f.app.inject({ url: `/v1/restores/${id}/events`, headers: bearer(TOKENS.audit) });
    for (let i = 0; i < 100 && f.restores.watcherCount(id) === 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    await f.app.close();
    const events = parseEvents((await response).body);
    expect(events.map((e) => e.event)).toEqual(['progress']);
    expect(f.restores.watcherCount(id)).toBe(0);
  });
});
