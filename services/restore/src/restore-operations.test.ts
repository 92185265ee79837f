import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  initChecksums,
  type ObjectBody,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  textFormatStartupOptions,
} from '@tidemark/shared';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ApiToken } from './api/api-ports.js';
import {
  type FixtureTable,
  relationOf,
  TxBuilder,
  writeSegments,
  writeSnapshot,
} from './engine/testing/journal-fixture.js';
import { MemoryObjectStore } from './engine/testing/memory-object-store.js';
import { buildRestoreApp, type RestoreApp } from './restore-app.js';

/**
 * Operations on restores with the real engine behind the API, against a real PostgreSQL:
 * cancel (queued, running; the target left clean), dry run, Idempotency-Key across a
 * restart, and the event stream. Segment reads can be held back (GatedStore) so a restore
 * stays in its replay for as long as a test needs.
 */
const TOKEN = 'tmk_ops_4f1c9a7e2b6d';
const TOKENS: ApiToken[] = [{ name: 'ops', role: 'admin', token: TOKEN }];
const AUTH = { authorization: `Bearer ${TOKEN}` };
const T0 = 1_714_557_600_000_000n;
const SNAP = 0x100_0000n;

const TABLES: FixtureTable[] = [
  {
    schema: 'public',
    table: 'items',
    columns: [
      { name: 'id', type: 'integer', notNull: true },
      { name: 'v', type: 'text' },
    ],
    primaryKey: ['id'],
    data: [
      ['1', 'one'],
      ['2', 'two'],
    ],
  },
  {
    schema: 'Sales',
    table: 'orders',
    columns: [
      { name: 'id', type: 'integer', notNull: true },
      { name: 'total', type: 'numeric(10,2)' },
    ],
    primaryKey: ['id'],
    data: [['1', '9.99']],
  },
];

/** Holds back reads of journal segments while closed. */
class GatedStore implements ObjectStore {
  readonly description = 'gated';
  private gate: Promise<void> | undefined;
  private release: () => void = () => {};

  constructor(private readonly inner: ObjectStore) {}

  close(): void {
    this.gate ??= new Promise((r) => {
      this.release = r;
    });
  }

  open(): void {
    this.release();
    this.gate = undefined;
  }

  async get(key: string): Promise<Uint8Array> {
    if (this.gate && key.includes('/segments/')) await this.gate;
    return this.inner.get(key);
  }

  getStream(key: string): Promise<AsyncIterable<Uint8Array>> {
    return this.inner.getStream(key);
  }

  put(key: string, body: ObjectBody, options?: PutOptions): Promise<void> {
    return this.inner.put(key, body, options);
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }

  list(prefix: string, options?: { startAfter?: string }): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, options);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
}

let cluster: PostgresCluster;
let dir: string;
let store: GatedStore;
let transactions: number;
const apps: RestoreApp[] = [];

async function connect(database: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: cluster.url(database), options: textFormatStartupOptions() });
  await c.connect();
  return c;
}

async function query<T extends pg.QueryResultRow>(database: string, sql: string): Promise<T[]> {
  const c = await connect(database);
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

async function databaseExists(db: string): Promise<boolean> {
  return (await query('postgres', `SELECT 1 FROM pg_database WHERE datname = '${db}'`)).length === 1;
}

async function start(maxConcurrent = 2, stateDir = path.join(dir, 'state')): Promise<RestoreApp> {
  const app = await buildRestoreApp({
    store,
    stateDir,
    maxConcurrentRestores: maxConcurrent,
    tokens: TOKENS,
    logger: pino({ level: 'silent' }),
  });
  apps.push(app);
  return app;
}

function submit(app: RestoreApp, db: string, headers: Record<string, string> = {}, url = '/v1/restores') {
  return app.app.inject({
    method: 'POST',
    url,
    headers: { ...AUTH, ...headers },
    payload: { source: 'app', target: { latest: true }, into: { url: cluster.url(db) } },
  });
}

interface JobJson {
  readonly id: string;
  readonly state: string;
  readonly queuePosition?: number;
  readonly progress: { readonly phase: string };
}

async function waitFor(app: RestoreApp, id: string, check: (job: JobJson) => boolean): Promise<JobJson> {
  for (let i = 0; i < 500; i++) {
    const job = (await app.app.inject({ url: `/v1/restores/${id}`, headers: AUTH })).json<JobJson>();
    if (check(job)) return job;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`restore ${id} never got there`);
}

beforeAll(async () => {
  await initChecksums();
  cluster = await startPostgres({ flavor: 'debian15' });
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-ops-'));
  const mem = new MemoryObjectStore();
  const snap = await writeSnapshot(mem, { source: 'app', lsn: SNAP, snapshotTime: T0, tables: TABLES });
  const items = relationOf(1, 'public', 'items', [['id', true], 'v']);
  const orders = relationOf(2, 'Sales', 'orders', [['id', true], 'total']);
  const b = new TxBuilder('app', SNAP, T0);
  const txs = Array.from({ length: 12 }, (_, i) =>
    i % 3 === 2
      ? b.tx([orders], [{ op: 'insert', rel: 0, new: { values: [String(10 + i), `${i}.50`] } }])
      : b.tx([items], [{ op: 'insert', rel: 0, new: { values: [String(10 + i), `v${i}`] } }]),
  );
  transactions = txs.length;
  await writeSegments(mem, {
    source: 'app',
    snapshotLsn: SNAP,
    prevSha256: snap.sha256,
    groups: [txs.slice(0, 4), txs.slice(4, 8), txs.slice(8)],
  });
  store = new GatedStore(mem);
}, 120_000);

afterEach(async () => {
  store.open();
  for (const app of apps.splice(0)) await app.close();
  await rm(path.join(dir, 'state'), { recursive: true, force: true });
});

afterAll(async () => {
  await (cluster as PostgresCluster | undefined)?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('DELETE /v1/restores/:id with the real engine', () => {
  it('cancels a running restore and drops the database it had created', async () => {
    const app = await start();
    store.close();
    const { id } = (await submit(app, 'cancel_created')).json();
    await waitFor(app, id, (j) => j.progress.phase === 'replaying');
    expect(await databaseExists('cancel_created')).toBe(true);
    expect(await query('cancel_created', 'SELECT * FROM items')).toHaveLength(2);

    const res = await app.app.inject({ method: 'DELETE', url: `/v1/restores/${id}`, headers: AUTH });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      state: 'cancelled',
      error: {
        code: 'CANCELLED',
        message: `restore ${id} was cancelled; database cancel_created, which the restore had created, was dropped`,
        details: { targetCleaned: true },
      },
    });
    expect(await databaseExists('cancel_created')).toBe(false);
    const again = await app.app.inject({ method: 'DELETE', url: `/v1/restores/${id}`, headers: AUTH });
    expect(again.statusCode).toBe(409);
  });

  it('in a database that existed, drops only what the restore created', async () => {
    const admin = await connect('postgres');
    await admin.query('CREATE DATABASE cancel_existing');
    await admin.end();
    const c = await connect('cancel_existing');
    await c.query(`CREATE SCHEMA keep;
      CREATE FUNCTION keep.answer() RETURNS int LANGUAGE sql AS 'SELECT 42';
      CREATE TYPE public.mood AS ENUM ('ok')`);
    await c.end();

    const app = await start();
    store.close();
    const { id } = (await submit(app, 'cancel_existing')).json();
    await waitFor(app, id, (j) => j.progress.phase === 'replaying');
    const res = await app.app.inject({ method: 'DELETE', url: `/v1/restores/${id}`, headers: AUTH });
    expect(res.json()).toMatchObject({
      state: 'cancelled',
      error: { message: expect.stringContaining('the tables and schemas the restore had created') },
    });
    const relations = await query(
      'cancel_existing',
      "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
    );
    expect(relations).toEqual([]);
    const schemas = await query<{ nspname: string }>(
      'cancel_existing',
      "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1",
    );
    expect(schemas.map((s) => s.nspname)).toEqual(['keep', 'public']);
    expect(await query('cancel_existing', 'SELECT keep.answer() AS a')).toEqual([{ a: 42 }]);
    expect(await query('cancel_existing', "SELECT 'ok'::public.mood AS m")).toEqual([{ m: 'ok' }]);
  });

  it('cancels a queued restore: it never runs and nothing is created', async () => {
    const app = await start(1);
    store.close();
    const first = (await submit(app, 'queue_first')).json();
    const second = (await submit(app, 'queue_second')).json();
    await waitFor(app, first.id, (j) => j.progress.phase === 'replaying');
    const queued = await waitFor(app, second.id, (j) => j.state === 'queued');
    expect(queued.queuePosition).toBe(1);
    const res = await app.app.inject({ method: 'DELETE', url: `/v1/restores/${second.id}`, headers: AUTH });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ state: 'cancelled', error: { code: 'CANCELLED' } });
    expect(res.json().startedAt).toBeUndefined();
    await app.app.inject({ method: 'DELETE', url: `/v1/restores/${first.id}`, headers: AUTH });
    store.open();
    await new Promise((r) => setTimeout(r, 100));
    expect(await databaseExists('queue_second')).toBe(false);
    expect(await databaseExists('queue_first')).toBe(false);
  });
});

describe('operations with the real engine', () => {
  it('a dry run answers the plan and creates nothing', async () => {
    const app = await start();
    const res = await submit(app, 'dry_run_db', {}, '/v1/restores?dryRun=true');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      dryRun: true,
      snapshotLsn: '0/1000000',
      snapshotTables: 2,
      segments: 3,
      stopRule: { lsn: '0/1000C00' },
      notes: [],
    });
    expect(res.json().totalBytes).toBe(res.json().snapshotBytes + res.json().segmentBytes);
    expect(res.json().estimatedSeconds).toBeGreaterThanOrEqual(1);
    expect((await app.app.inject({ url: '/v1/restores', headers: AUTH })).json()).toEqual([]);
    expect(await databaseExists('dry_run_db')).toBe(false);
  });

  it('an Idempotency-Key gives the same restore, also after a restart, and 409 for another body', async () => {
    const app = await start();
    const first = await submit(app, 'idem_db', { 'idempotency-key': 'deploy-42-rollback' });
    expect(first.statusCode).toBe(202);
    const { id } = first.json();
    await waitFor(app, id, (j) => j.state === 'succeeded');
    await app.close();
    apps.splice(apps.indexOf(app), 1);

    const restarted = await start();
    const again = await submit(restarted, 'idem_db', { 'idempotency-key': 'deploy-42-rollback' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ id, state: 'succeeded', idempotencyKey: 'deploy-42-rollback' });
    const other = await submit(restarted, 'idem_other', { 'idempotency-key': 'deploy-42-rollback' });
    expect(other.statusCode).toBe(409);
    expect((await restarted.app.inject({ url: '/v1/restores', headers: AUTH })).json()).toHaveLength(1);
    expect(await databaseExists('idem_other')).toBe(false);
  });

  it('streams progress as server-sent events, then the final state', async () => {
    const app = await start();
    store.close();
    const { id } = (await submit(app, 'events_db')).json();
    await waitFor(app, id, (j) => j.progress.phase === 'replaying');
    const response = app.app.inject({ url: `/v1/restores/${id}/events`, headers: AUTH });
    await new Promise((r) => setTimeout(r, 50));
    store.open();
    const res = await response;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const events = res.body
      .split('\n\n')
      .filter((b) => b.startsWith('id:'))
      .map((b) => {
        const [, event, data] = b.split('\n');
        return { event: event!.slice('event: '.length), job: JSON.parse(data!.slice('data: '.length)) };
      });
    expect(events[0]).toMatchObject({
      event: 'progress',
      job: { state: 'running', progress: { phase: 'replaying' } },
    });
    const last = events.at(-1)!;
    expect(last.event).toBe('end');
    expect(last.job).toMatchObject({
      state: 'succeeded',
      progress: {
        phase: 'done',
        transactionsApplied: transactions,
        transactionsTotal: transactions,
        transactionsTotalExact: true,
        segmentsRead: 3,
        segmentsTotal: 3,
        restoredLsn: '0/1000C00',
      },
    });
    expect(last.job.progress.bytesDone).toBe(last.job.progress.bytesTotal);
    expect(events.filter((e) => e.event === 'end')).toHaveLength(1);
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(await query('events_db', 'SELECT count(*)::int AS n FROM items')).toEqual([{ n: 2 + 8 }]);
  });
});
