import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreAndWait, waitUntilRestorable } from './support/oracle-run.js';
import { connect, serverNow } from './support/oracle-workload.js';
import { TidemarkProcess } from './support/tidemark-process.js';

interface ErrorBody {
  error: { code: string; message: string };
}

/** Invariant 6 through the real process: bad input gets a 4xx a person can act on, and changes nothing. */
describe('API errors against a running embedded Tidemark', () => {
  let cluster: PostgresCluster;
  let dataDir: string;
  let tm: TidemarkProcess;
  const auditToken = 'audit-token-0123456789abcdef';

  beforeAll(async () => {
    cluster = await startPostgres({ flavor: 'debian15' });
    const admin = await connect(cluster.url('postgres'));
    await admin.query('CREATE DATABASE source');
    await admin.query('CREATE DATABASE occupied');
    await admin.end();
    const source = await connect(cluster.url('source'));
    await source.query(`CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')`);
    await source.end();
    const occupied = await connect(cluster.url('occupied'));
    await occupied.query('CREATE TABLE precious (id int)');
    await occupied.end();
    dataDir = await mkdtemp(path.join(tmpdir(), 'tidemark-api-'));
    tm = new TidemarkProcess({ sourceUrl: cluster.url('source'), dataDir });
    await tm.start();
  });

  afterAll(async () => {
    await tm?.stop();
    await cluster?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const post = (body: unknown) => tm.api<ErrorBody>('POST', '/v1/restores', body);

  it('asks for a token, and names the header', async () => {
    const res = await fetch(`${tm.baseUrl}/v1/sources`);
    expect(res.status).toBe(401);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('UNAUTHENTICATED');
    expect(body.error.message).toMatch(/Authorization: Bearer/);
  });

  it('rejects an unknown source', async () => {
    const res = await post({ source: 'nope', target: { latest: true }, into: { url: cluster.url('x1') } });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('UNKNOWN_SOURCE');
    expect(res.body.error.message).toMatch(/main/);
  });

  it('rejects a time before the window and after the newest archived commit', async () => {
    const before = await post({
      source: 'main',
      target: { time: '2001-01-01T00:00:00Z' },
      into: { url: cluster.url('x2') },
    });
    expect(before.status).toBe(422);
    expect(before.body.error.code).toBe('TARGET_BEFORE_WINDOW');
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const after = await post({ source: 'main', target: { time: future }, into: { url: cluster.url('x3') } });
    expect(after.status).toBe(422);
    expect(after.body.error.code).toBe('TARGET_AFTER_WINDOW');
  });

  it('rejects malformed bodies with the field at fault', async () => {
    const res = await post({
      source: 'main',
      target: { time: 'yesterday' },
      into: { url: cluster.url('x4') },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/target/);
    const raw = await fetch(`${tm.baseUrl}/v1/restores`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tm.token}`, 'content-type': 'application/json' },
      body: '{"source": ',
    });
    expect(raw.status).toBe(400);
  });

  it('never touches a database that is not empty', async () => {
    const source = await connect(cluster.url('source'));
    const now = await serverNow(source);
    await source.end();
    await waitUntilRestorable(tm, 'main', now);
    const done = await restoreAndWait(tm, {
      source: 'main',
      target: { latest: true },
      into: { url: cluster.url('occupied') },
    }).catch((err: unknown) => ({ state: 'rejected', error: { code: String(err) } }));
    // either refused up front (409) or failed at start: in both cases nothing was created there
    expect(['failed', 'rejected']).toContain(done.state);
    const occupied = await connect(cluster.url('occupied'));
    const { rows } = await occupied.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`,
    );
    await occupied.end();
    expect(rows.map((r) => r.table_name)).toEqual(['precious']);
  });

  it('verifies the journal it wrote', async () => {
    const res = await tm.api<{ ok: boolean; segments: number; problems: unknown[] }>(
      'POST',
      '/v1/sources/main/verify',
    );
    expect(res.status).toBe(200);
    expect(res.body.ok).toBe(true);
    expect(res.body.segments).toBeGreaterThan(0);
    expect(res.body.problems).toEqual([]);
  });

  it('keeps the audit role to reading and verifying', async () => {
    await tm.stop();
    tm = new TidemarkProcess({
      sourceUrl: cluster.url('source'),
      dataDir,
      env: { TIDEMARK_API_TOKENS: `auditor:audit:${auditToken}` },
    });
    await tm.start();
    const res = await fetch(`${tm.baseUrl}/v1/restores`, {
      method: 'POST',
      headers: { authorization: `Bearer ${auditToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ source: 'main', target: { latest: true }, into: { url: cluster.url('x5') } }),
    });
    expect(res.status).toBe(403);
    const list = await fetch(`${tm.baseUrl}/v1/sources`, {
      headers: { authorization: `Bearer ${auditToken}` },
    });
    expect(list.status).toBe(200);
  });
});
