import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  initChecksums,
  isTidemarkError,
  LocalObjectStore,
  type ObjectStore,
  snapshotTableKey,
  type TransactionRecord,
  textFormatStartupOptions,
} from '@tidemark/shared';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import { executeRestore, type RestoreTuning } from './restore-executor.js';
import { RestoreRunner } from './restore-runner.js';
import type { RestoreTarget } from './restore-target.js';
import { parseTargetUrl, prepareTargetDatabase } from './target-database.js';
import {
  type FixtureTable,
  relationOf,
  TxBuilder,
  type WrittenSegment,
  writeSegments,
  writeSnapshot,
} from './testing/journal-fixture.js';
import { MemoryObjectStore } from './testing/memory-object-store.js';

/**
 * Restores against a real PostgreSQL. A source database gets the same tables, rows and
 * changes (as SQL) as the journal we write by hand; after each source transaction its
 * tables are dumped, so every restore can be compared with the state the source really
 * had at that point.
 */
const T0 = 1_714_557_600_000_000n; // 2024-05-01T10:00:00Z
const SEC = 1_000_000n;
const SNAP = 0x100_0000n;

const SOURCE_DDL = [
  'CREATE TABLE items (id integer NOT NULL PRIMARY KEY, name text, doc text, data bytea, amount numeric(12,2), at timestamp with time zone DEFAULT now())',
  'CREATE TABLE events (line text, n integer)',
  'ALTER TABLE events REPLICA IDENTITY FULL',
  'CREATE SCHEMA "Sales"',
  'CREATE TABLE "Sales"."Order Lines" ("K" integer NOT NULL PRIMARY KEY, v jsonb)',
  'CREATE TABLE logs (msg text)',
  'CREATE TABLE measure (at date NOT NULL, val double precision) PARTITION BY RANGE (at)',
  "CREATE TABLE measure_2024 PARTITION OF measure FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
];
const DUMPED = ['items', 'events', '"Sales"."Order Lines"', 'logs', 'measure'];

const ITEM_COLS = ['id', 'name', 'doc', 'data', 'amount', 'at'];
const BIG_DOC = `big doc ${'x'.repeat(100)}`;
const TABLES: FixtureTable[] = [
  {
    schema: 'public',
    table: 'items',
    columns: [
      { name: 'id', type: 'integer', notNull: true },
      { name: 'name', type: 'text' },
      { name: 'doc', type: 'text' },
      { name: 'data', type: 'bytea' },
      { name: 'amount', type: 'numeric(12,2)' },
      { name: 'at', type: 'timestamp with time zone', default: 'now()' },
    ],
    primaryKey: ['id'],
    data: [
      ['1', 'first', BIG_DOC, '\\x00ff', '12.50', '2024-05-01 09:00:00.123456+00'],
      ['2', '', null, null, '0.00', '2024-05-01 09:00:01+00'],
      ['3', 'tab\there\\back\nnl żółw 🐢', 'd3', '\\x', null, 'infinity'],
    ],
  },
  {
    schema: 'public',
    table: 'events',
    columns: [
      { name: 'line', type: 'text' },
      { name: 'n', type: 'integer' },
    ],
    replicaIdentity: 'full',
    data: [
      ['dup', '1'],
      ['dup', '1'],
      ['dup', '1'],
      ['other', '2'],
    ],
  },
  {
    schema: 'Sales',
    table: 'Order Lines',
    columns: [
      { name: 'K', type: 'integer', notNull: true },
      { name: 'v', type: 'jsonb' },
    ],
    primaryKey: ['K'],
    data: [['1', '{"b": 1, "a": [1, 2]}']],
  },
  { schema: 'public', table: 'logs', columns: [{ name: 'msg', type: 'text' }], data: [['l1'], ['l2']] },
  {
    schema: 'public',
    table: 'measure',
    kind: 'partitioned',
    partitionKey: 'RANGE (at)',
    columns: [
      { name: 'at', type: 'date', notNull: true },
      { name: 'val', type: 'double precision' },
    ],
  },
  {
    schema: 'public',
    table: 'measure_2024',
    partitionOf: {
      schema: 'public',
      table: 'measure',
      bound: "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
    },
    columns: [
      { name: 'at', type: 'date', notNull: true },
      { name: 'val', type: 'double precision' },
    ],
    data: [
      ['2024-02-01', '1.5'],
      ['2024-03-01', '-0'],
    ],
  },
];

const items = relationOf(1, 'public', 'items', [['id', true], 'name', 'doc', 'data', 'amount', 'at']);
const events = relationOf(2, 'public', 'events', ['line', 'n'], 'full');
const orders = relationOf(3, 'Sales', 'Order Lines', [['K', true], 'v']);
const logs = relationOf(4, 'public', 'logs', ['msg']);
const m2024 = relationOf(5, 'public', 'measure_2024', ['at', 'val']);
const ONE_DUP = 'ctid = (SELECT ctid FROM events WHERE line = $1 AND n = $2 LIMIT 1)';

type Sql = [text: string, values?: (string | null)[]];
interface Step {
  readonly tx: TransactionRecord;
  readonly sql: Sql[];
}

function itemRow(id: string, name: string, doc: string | null, data: string | null): (string | null)[] {
  return [id, name, doc, data, '1.00', '2024-05-01 10:00:00+00'];
}
const insertItem = (values: (string | null)[]): Sql => [
  `INSERT INTO items (${ITEM_COLS.join(', ')}) VALUES ($1, $2, $3, $4, $5, $6)`,
  values,
];

/** The journal, and the same changes as SQL for the source database. */
function journal(): Step[] {
  const b = new TxBuilder('app', SNAP, T0);
  const at = (seconds: bigint) => ({ timeStep: seconds * SEC });
  const steps: Step[] = [];
  const add = (tx: TransactionRecord, sql: Sql[]) => steps.push({ tx, sql });
  const rows = [
    itemRow('4', 'four', 'tab\tnl\ncr\rback\\slash', '\\xdeadbeef'),
    itemRow('5', 'five żółw 🐢 漢字', '', '\\x'),
    itemRow('6', '', null, null),
  ];
  add(
    b.tx(
      [items],
      rows.map((r) => ({ op: 'insert' as const, rel: 0, new: { values: r } })),
      at(1n),
    ),
    rows.map(insertItem),
  );
  // unchanged TOAST: doc is not sent and must keep its value
  add(
    b.tx(
      [items],
      [
        {
          op: 'update',
          rel: 0,
          new: {
            values: ['1', 'first-upd', null, '\\x00ff', '12.50', '2024-05-01 09:00:00.123456+00'],
            unchanged: [2],
          },
        },
      ],
      at(1n),
    ),
    [["UPDATE items SET name = 'first-upd' WHERE id = 1"]],
  );
  // REPLICA IDENTITY FULL with three equal rows: exactly one changes
  add(
    b.tx(
      [events],
      [
        {
          op: 'update',
          rel: 0,
          old: { values: ['dup', '1'] },
          oldKind: 'full',
          new: { values: ['dup', '2'] },
        },
      ],
      at(1n),
    ),
    [[`UPDATE events SET n = 2 WHERE ${ONE_DUP}`, ['dup', '1']]],
  );
  add(b.tx([events], [{ op: 'delete', rel: 0, old: { values: ['dup', '1'] }, oldKind: 'full' }], at(1n)), [
    [`DELETE FROM events WHERE ${ONE_DUP}`, ['dup', '1']],
  ]);
  // primary key update: the old key finds the row
  add(
    b.tx(
      [items],
      [
        {
          op: 'update',
          rel: 0,
          old: { values: ['2', null, null, null, null, null] },
          oldKind: 'key',
          new: { values: ['20', '', null, null, '0.00', '2024-05-01 09:00:01+00'] },
        },
      ],
      at(1n),
    ),
    [['UPDATE items SET id = 20 WHERE id = 2']],
  );
  add(b.tx([logs], [{ op: 'truncate', rels: [0], cascade: false, restartIdentity: false }], at(1n)), [
    ['TRUNCATE logs'],
  ]);
  add(
    b.tx(
      [orders, m2024, logs],
      [
        { op: 'insert', rel: 0, new: { values: ['2', '{"z": "ż\\n", "a": null}'] } },
        { op: 'insert', rel: 1, new: { values: ['2024-04-01', 'NaN'] } },
        { op: 'insert', rel: 2, new: { values: ['after\ttruncate'] } },
        { op: 'insert', rel: 2, new: { values: [''] } },
        { op: 'insert', rel: 2, new: { values: [null] } },
      ],
      at(1n),
    ),
    [
      ['INSERT INTO "Sales"."Order Lines" VALUES ($1, $2)', ['2', '{"z": "ż\\n", "a": null}']],
      ["INSERT INTO measure_2024 VALUES ('2024-04-01', 'NaN')"],
      ['INSERT INTO logs VALUES ($1), ($2), ($3)', ['after\ttruncate', '', null]],
    ],
  );
  add(
    b.tx(
      [items],
      [{ op: 'delete', rel: 0, old: { values: ['3', null, null, null, null, null] }, oldKind: 'key' }],
      at(1n),
    ),
    [['DELETE FROM items WHERE id = 3']],
  );
  // 9 s, then a commit LSN-after but time-before it (8.5 s): a restore to 8.7 s must stop at 9 s
  add(b.tx([items], [{ op: 'insert', rel: 0, new: { values: itemRow('7', 'seven', null, null) } }], at(1n)), [
    insertItem(itemRow('7', 'seven', null, null)),
  ]);
  add(
    b.tx([items], [{ op: 'insert', rel: 0, new: { values: itemRow('8', 'eight', null, null) } }], {
      timeStep: -SEC / 2n,
    }),
    [insertItem(itemRow('8', 'eight', null, null))],
  );
  add(
    b.tx([orders], [{ op: 'update', rel: 0, new: { values: ['1', '[]'] } }], {
      timeStep: 3n * SEC + SEC / 2n,
    }),
    [[`UPDATE "Sales"."Order Lines" SET v = '[]' WHERE "K" = 1`]],
  );
  add(
    b.tx(
      [],
      [{ op: 'message', prefix: 'tidemark.heartbeat', content: new Uint8Array([1]), transactional: true }],
      at(1n),
    ),
    [],
  );
  return steps;
}

let cluster: PostgresCluster;
let dir: string;
let store: LocalObjectStore;
let catalog: JournalCatalog;
let steps: Step[];
let segments: WrittenSegment[];
/** states[i]: every source table after the first i journal transactions (states[0]: the snapshot) */
const states: Record<string, string[]>[] = [];
let dbCounter = 0;

async function connect(database: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: cluster.url(database), options: textFormatStartupOptions() });
  await c.connect();
  return c;
}

async function dump(client: pg.Client): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of DUMPED) {
    const { rows } = await client.query<{ r: string }>(`SELECT x::text AS r FROM ${t} x ORDER BY 1`);
    out[t] = rows.map((r) => r.r);
  }
  return out;
}

async function restore(
  target: RestoreTarget,
  tuning: RestoreTuning = {},
  s: ObjectStore = store,
  source = 'app',
): Promise<{ db: string; error?: unknown }> {
  const db = `restored_${++dbCounter}`;
  try {
    await executeRestore({
      id: `r_test${dbCounter}`,
      source,
      target,
      into: parseTargetUrl(cluster.url(db)),
      store: s,
      catalog: new JournalCatalog(s),
      signal: new AbortController().signal,
      logger: silentLogger,
      tuning,
      onProgress: () => {},
    });
  } catch (error) {
    return { db, error };
  }
  return { db };
}

async function dumpOf(db: string): Promise<Record<string, string[]>> {
  const c = await connect(db);
  try {
    return await dump(c);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await initChecksums();
  cluster = await startPostgres({ flavor: 'debian15' });
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-restore-'));
  store = new LocalObjectStore(path.join(dir, 'journal'));
  catalog = new JournalCatalog(store);

  // the source database: snapshot rows, then each transaction, dumping after each
  const admin = await connect('postgres');
  await admin.query('CREATE DATABASE source');
  await admin.end();
  const src = await connect('source');
  for (const sql of SOURCE_DDL) await src.query(sql);
  for (const t of TABLES) {
    for (const row of t.data ?? []) {
      const params = row.map((_, i) => `$${i + 1}`).join(', ');
      await src.query(`INSERT INTO "${t.schema}"."${t.table}" VALUES (${params})`, [...row]);
    }
  }
  states.push(await dump(src));
  steps = journal();
  for (const step of steps) {
    await src.query('BEGIN');
    for (const [text, values] of step.sql) await src.query(text, values);
    await src.query('COMMIT');
    states.push(await dump(src));
  }
  await src.end();

  const snap = await writeSnapshot(store, { source: 'app', lsn: SNAP, snapshotTime: T0, tables: TABLES });
  const txs = steps.map((s) => s.tx);
  segments = await writeSegments(store, {
    source: 'app',
    snapshotLsn: SNAP,
    prevSha256: snap.sha256,
    groups: [txs.slice(0, 3), txs.slice(3, 6), txs.slice(6, 8), txs.slice(8)],
  });
}, 120_000);

afterAll(async () => {
  // undefined when startPostgres failed
  await (cluster as PostgresCluster | undefined)?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('restore into PostgreSQL', () => {
  it('the source went through distinct states (sanity of the fixture)', () => {
    expect(states).toHaveLength(steps.length + 1);
    expect(states[3]?.events).toEqual(['(dup,1)', '(dup,1)', '(dup,2)', '(other,2)']);
    expect(states[2]?.items?.[0]).toContain(BIG_DOC);
  });

  it('restores the latest state exactly, inserts through COPY', async () => {
    const query = vi.spyOn(pg.Client.prototype, 'query');
    const { db, error } = await restore({ kind: 'latest' }, { copyMinRows: 2 });
    const copies = query.mock.calls
      .map(([q]) => (q as { text?: unknown }).text)
      .filter((t) => String(t).startsWith('COPY'));
    query.mockRestore();
    expect(error).toBeUndefined();
    // 5 tables of the snapshot, then the runs of inserts: items (tx 1), logs (tx 7), and
    // items again (tx 9 and 10: a run may span source transactions of one batch)
    const itemsCopy = 'COPY "public"."items" ("id", "name", "doc", "data", "amount", "at") FROM STDIN';
    expect(copies.slice(5)).toEqual([itemsCopy, 'COPY "public"."logs" ("msg") FROM STDIN', itemsCopy]);
    expect(await dumpOf(db)).toEqual(states[steps.length]);
    const c = await connect(db);
    try {
      const schemas = await c.query("SELECT 1 FROM pg_namespace WHERE nspname = '_tidemark'");
      expect(schemas.rowCount).toBe(0);
      const pks = await c.query<{ t: string }>(
        "SELECT conrelid::regclass::text AS t FROM pg_constraint WHERE contype = 'p' AND connamespace <> 'pg_catalog'::regnamespace ORDER BY 1",
      );
      expect(pks.rows.map((r) => r.t)).toEqual(['"Sales"."Order Lines"', 'items']);
      const ident = await c.query<{ r: string }>(
        "SELECT relreplident AS r FROM pg_class WHERE relname = 'events'",
      );
      expect(ident.rows[0]?.r).toBe('f');
      const def = await c.query<{ d: string }>(
        "SELECT pg_get_expr(adbin, adrelid) AS d FROM pg_attrdef WHERE adrelid = 'items'::regclass",
      );
      expect(def.rows.map((r) => r.d)).toEqual(['now()']);
    } finally {
      await c.end();
    }
  });

  it('restores the latest state exactly, inserts as multi-row INSERTs, one transaction per batch', async () => {
    const { db, error } = await restore(
      { kind: 'latest' },
      { copyMinRows: 1000, maxTransactionsPerBatch: 1 },
    );
    expect(error).toBeUndefined();
    expect(await dumpOf(db)).toEqual(states[steps.length]);
  });

  it('stops exactly at a time target, including a commit at that very microsecond', async () => {
    const at5 = steps[4]!.tx.commitTime;
    const exact = await restore({ kind: 'time', micros: at5 });
    expect(exact.error).toBeUndefined();
    expect(await dumpOf(exact.db)).toEqual(states[5]);
    const between = await restore({ kind: 'time', micros: at5 + SEC / 2n });
    expect(await dumpOf(between.db)).toEqual(states[5]);
    const before = await restore({ kind: 'time', micros: at5 - 1n });
    expect(await dumpOf(before.db)).toEqual(states[4]);
  });

  it('stops at the first commit after the target time, even if a later one is earlier', async () => {
    // transaction 9 commits at 9 s, transaction 10 after it at 8.5 s; the target is 8.7 s
    expect(steps[9]!.tx.commitTime).toBeLessThan(steps[8]!.tx.commitTime);
    const { db, error } = await restore({ kind: 'time', micros: T0 + 8n * SEC + (7n * SEC) / 10n });
    expect(error).toBeUndefined();
    expect(await dumpOf(db)).toEqual(states[8]);
  });

  it('restores the snapshot alone at the snapshot instant', async () => {
    const { db, error } = await restore({ kind: 'time', micros: T0 });
    expect(error).toBeUndefined();
    expect(await dumpOf(db)).toEqual(states[0]);
  });

  it('stops exactly at an LSN target (inclusive)', async () => {
    const { db, error } = await restore({ kind: 'lsn', lsn: steps[3]!.tx.commitLsn });
    expect(error).toBeUndefined();
    expect(await dumpOf(db)).toEqual(states[4]);
    const mid = await restore({ kind: 'lsn', lsn: steps[3]!.tx.commitLsn + 1n });
    expect(await dumpOf(mid.db)).toEqual(states[4]);
  });

  it('rejects targets outside the window', async () => {
    const before = await restore({ kind: 'time', micros: T0 - 1n });
    expect(isTidemarkError(before.error, 'TARGET_BEFORE_WINDOW')).toBe(true);
    const after = await restore({ kind: 'time', micros: T0 + 60n * SEC });
    expect(isTidemarkError(after.error, 'TARGET_AFTER_WINDOW')).toBe(true);
    expect((after.error as Error).message).toContain(
      '2024-05-01T10:00:00.000000Z to 2024-05-01T10:00:13.000000Z',
    );
  });

  it('stops at a corrupt segment: SEGMENT_CORRUPT naming it, and drops what it had built', async () => {
    const copyDir = path.join(dir, 'corrupt');
    await cp(path.join(dir, 'journal'), copyDir, { recursive: true });
    const bad = segments[1]!;
    const file = path.join(copyDir, bad.key);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(file, bytes);
    const { db, error } = await restore(
      { kind: 'latest' },
      { maxTransactionsPerBatch: 1 },
      new LocalObjectStore(copyDir),
    );
    expect(isTidemarkError(error, 'SEGMENT_CORRUPT')).toBe(true);
    expect((error as { details: { key: string } }).details.key).toBe(bad.key);
    expect((error as Error).message).toContain(bad.key);
    // the first segment's transactions had been applied: the database it created is dropped
    // (a target built from data that failed verification is no restore)
    expect((error as { details: { targetCleaned?: boolean } }).details.targetCleaned).toBe(true);
    await expect(connect(db)).rejects.toThrow(/does not exist/);
  });

  it('keeps nothing when snapshot data fails its checksum', async () => {
    const copyDir = path.join(dir, 'bad-data');
    await cp(path.join(dir, 'journal'), copyDir, { recursive: true });
    const logsKey = snapshotTableKey('app', SNAP, 3);
    const file = path.join(copyDir, logsKey);
    // still well-formed COPY data, so only the checksum can tell
    await writeFile(file, (await readFile(file, 'utf8')).replace('l1', 'l9'));
    const { db, error } = await restore({ kind: 'latest' }, {}, new LocalObjectStore(copyDir));
    expect(isTidemarkError(error, 'SNAPSHOT_CORRUPT')).toBe(true);
    expect((error as { details: { key: string } }).details.key).toBe(logsKey);
    await expect(connect(db)).rejects.toThrow(/does not exist/);
  });

  it('fails when the journal does not continue the snapshot: a missing row, an unknown table', async () => {
    const t = relationOf(1, 'public', 't', [['id', true], 'v']);
    const other = relationOf(2, 'public', 'not_in_snapshot', ['x']);
    const journalOf = async (source: string, tx: (b: TxBuilder) => TransactionRecord) => {
      const mem = new MemoryObjectStore();
      const snap = await writeSnapshot(mem, {
        source,
        lsn: SNAP,
        snapshotTime: T0,
        tables: [
          {
            schema: 'public',
            table: 't',
            columns: [
              { name: 'id', type: 'int' },
              { name: 'v', type: 'text' },
            ],
            primaryKey: ['id'],
            data: [['1', 'a']],
          },
        ],
      });
      const b = new TxBuilder(source, SNAP, T0);
      const txs = [b.tx([t], [{ op: 'update', rel: 0, new: { values: ['1', 'b'] } }]), tx(b)];
      const [seg] = await writeSegments(mem, {
        source,
        snapshotLsn: SNAP,
        prevSha256: snap.sha256,
        groups: [txs],
      });
      return { mem, key: seg!.key };
    };

    const drift = await journalOf('drift', (b) =>
      b.tx([t], [{ op: 'update', rel: 0, new: { values: ['2', 'c'] } }]),
    );
    const missing = await restore({ kind: 'latest' }, {}, drift.mem, 'drift');
    expect(isTidemarkError(missing.error, 'RESTORE_FAILED')).toBe(true);
    expect((missing.error as Error).message).toMatch(/update of public\.t matched 0 rows/);
    expect((missing.error as { details: Record<string, unknown> }).details).toMatchObject({
      segmentKey: drift.key,
      commitLsn: '0/1000200',
    });

    const ddl = await journalOf('ddl', (b) =>
      b.tx([other], [{ op: 'insert', rel: 0, new: { values: ['1'] } }]),
    );
    const unknown = await restore({ kind: 'latest' }, {}, ddl.mem, 'ddl');
    expect(isTidemarkError(unknown.error, 'RESTORE_FAILED')).toBe(true);
    expect((unknown.error as Error).message).toMatch(
      /public\.not_in_snapshot, which is not in the base snapshot/,
    );
  });

  it('refuses a target database that is not empty', async () => {
    const admin = await connect('postgres');
    await admin.query('CREATE DATABASE busy');
    await admin.end();
    const c = await connect('busy');
    await c.query('CREATE TABLE keep_me (x int)');
    await c.end();
    const into = parseTargetUrl(cluster.url('busy'));
    await expect(prepareTargetDatabase(into)).rejects.toSatisfy(
      (err: unknown) =>
        isTidemarkError(err, 'TARGET_NOT_EMPTY') && /public\.keep_me/.test((err as Error).message),
    );
    const created = await prepareTargetDatabase(parseTargetUrl(cluster.url('fresh_one')));
    expect(created).toEqual({ created: true, existingSchemas: [] });
    expect(await prepareTargetDatabase(parseTargetUrl(cluster.url('fresh_one')))).toMatchObject({
      created: false,
      existingSchemas: expect.arrayContaining(['public', 'pg_catalog']),
    });
  });

  it('reports an unreachable server as TARGET_UNREACHABLE', async () => {
    const url = cluster.url('x').replace(`:${cluster.port}/`, ':1/');
    await expect(prepareTargetDatabase(parseTargetUrl(url))).rejects.toSatisfy((err: unknown) =>
      isTidemarkError(err, 'TARGET_UNREACHABLE'),
    );
    const wrongPassword = cluster.url('x').replace(':postgres@', ':wrong@');
    await expect(prepareTargetDatabase(parseTargetUrl(wrongPassword))).rejects.toSatisfy(
      (err: unknown) =>
        isTidemarkError(err, 'TARGET_UNREACHABLE') && !(err as { retriable: boolean }).retriable,
    );
  });

  it('runs a restore job end to end through the runner', async () => {
    const stateDir = path.join(dir, 'state');
    const runner = new RestoreRunner({ store, catalog, stateDir, maxConcurrent: 2, logger: silentLogger });
    try {
      const job = await runner.submit({
        source: 'app',
        target: { time: '2024-05-01T10:00:05.000000Z' },
        into: { url: cluster.url('via_runner') },
      });
      for (let i = 0; i < 600 && ['queued', 'running'].includes(runner.get(job.id).state); i++)
        await new Promise((r) => setTimeout(r, 20));
      const done = runner.get(job.id);
      expect(done.error).toBeUndefined();
      expect(done.state).toBe('succeeded');
      expect(done.progress).toMatchObject({
        phase: 'done',
        tablesLoaded: 5,
        tablesTotal: 5,
        transactionsApplied: 5,
        // all four segments are filed under 10:00, so all are planned; replay stops in the second
        segmentsRead: 2,
        segmentsTotal: 4,
        restoredLsn: '0/1000500',
        restoredTime: '2024-05-01T10:00:05.000000Z',
      });
      expect(await dumpOf('via_runner')).toEqual(states[5]);
    } finally {
      await runner.close();
    }
  });
});
