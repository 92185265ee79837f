import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type Change,
  initChecksums,
  isTidemarkError,
  LocalObjectStore,
  type ObjectStore,
  putSnapshotTableData,
  TABLE_SNAPSHOT_MESSAGE_PREFIX,
  type TableSnapshotManifest,
  TidemarkError,
  type TransactionRecord,
  tableSnapshotDataKey,
  tableSnapshotManifestKey,
  tableSnapshotPrefix,
  textFormatStartupOptions,
} from '@tidemark/shared';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import { scopeRestorePlan } from './late-tables.js';
import { executeRestore, planFromCatalog } from './restore-executor.js';
import { checkpointOf, type ResumeFrom, resolveResume } from './restore-resume.js';
import type { RestoreScope } from './restore-scope.js';
import type { RestoreTarget } from './restore-target.js';
import { type PreparedTarget, parseTargetUrl } from './target-database.js';
import { relationOf, TxBuilder, writeSegments, writeSnapshot } from './testing/journal-fixture.js';
import { column, table } from './testing/manifest-fixture.js';

/**
 * Table restores that stop half-way (the abort stands for a crash: nothing is cleaned, the
 * target keeps the batches it committed) and resume as restore-runner.ts resumes them, and
 * per-table snapshots in table restores and resumed restores. A real PostgreSQL; the
 * expected state is computed from the journal written here.
 */
const T0 = 1_714_557_600_000_000n;
const SNAP = 0x100_0000n;
const SEC = 1_000_000n;
const N = 40;
/** the transaction holding the marker of `public.late`, a table that joined the publication later */
const MARKER_AT = 10;
const LATE_OID = 16390;

const A = relationOf(16384, 'public', 'a', [['id', true], 'v']);
const B = relationOf(16385, 'public', 'b', [['id', true], 'v']);
const LATE = relationOf(LATE_OID, 'public', 'late', [['id', true], 'v']);
const kv = [
  { name: 'id', type: 'integer', typeOid: 23, notNull: true },
  { name: 'v', type: 'text' },
];

let cluster: PostgresCluster;
let dir: string;
let store: ObjectStore;
let catalog: JournalCatalog;
let markerLsn = 0n;
const LATE_ROWS = [
  ['1', 'one'],
  ['2', 'two'],
  ['3', 'three'],
];
/** the source's rows per table after every transaction: states[i] after i transactions */
const states: Record<string, string[]>[] = [];

function journal(): TransactionRecord[] {
  const b = new TxBuilder('app', SNAP, T0);
  const rows = {
    a: new Map(Array.from({ length: 5 }, (_, i) => [i + 1, `a${i + 1}`])),
    b: new Map([[1, 'b1']]),
    late: new Map<number, string>(),
  };
  const snap = () => {
    const out: Record<string, string[]> = {};
    for (const [t, m] of Object.entries(rows))
      out[t] = [...m.entries()].sort((x, y) => x[0] - y[0]).map(([k, v]) => `(${k},${v})`);
    states.push(out);
  };
  snap();
  const txs: TransactionRecord[] = [];
  for (let i = 0; i < N; i++) {
    if (i === MARKER_AT) {
      const tx = b.tx([], [], { timeStep: SEC });
      markerLsn = tx.commitLsn;
      txs.push({ ...tx, changes: [markerChange(tx.commitLsn)] });
      for (const [k, v] of LATE_ROWS) rows.late.set(Number(k), v as string);
      snap();
      continue;
    }
    const changes: Change[] = [
      { op: 'insert', rel: 0, new: { values: [String(100 + i), `x${i}`] } },
      { op: 'update', rel: 0, new: { values: [String((i % 5) + 1), `u${i}`] } },
      { op: 'insert', rel: 1, new: { values: [String(100 + i), `b${i}`] } },
    ];
    rows.a.set(100 + i, `x${i}`);
    rows.a.set((i % 5) + 1, `u${i}`);
    rows.b.set(100 + i, `b${i}`);
    if (i > MARKER_AT) {
      changes.push({ op: 'insert', rel: 2, new: { values: [String(1000 + i), `l${i}`] } });
      rows.late.set(1000 + i, `l${i}`);
      if (i === MARKER_AT + 2) {
        changes.push({ op: 'update', rel: 2, new: { values: ['1', 'one-upd'] } });
        rows.late.set(1, 'one-upd');
      }
      if (i === MARKER_AT + 4) {
        changes.push({ op: 'delete', rel: 2, old: { values: ['2', null] }, oldKind: 'key' });
        rows.late.delete(2);
      }
    }
    txs.push(b.tx(i > MARKER_AT ? [A, B, LATE] : [A, B], changes, { timeStep: SEC }));
    snap();
  }
  return txs;
}

const latePrefix = (lsn: bigint) => tableSnapshotPrefix('app', lsn - 0x10n, LATE_OID);

function markerChange(commitLsn: bigint): Change {
  const marker = {
    formatVersion: 1,
    source: 'app',
    schema: 'public',
    table: 'late',
    oid: LATE_OID,
    prefix: latePrefix(commitLsn),
  };
  return {
    op: 'message',
    prefix: TABLE_SNAPSHOT_MESSAGE_PREFIX,
    content: new TextEncoder().encode(JSON.stringify(marker)),
    transactional: true,
  };
}

async function writeLateSnapshot(): Promise<void> {
  const prefix = latePrefix(markerLsn);
  async function* copyText(): AsyncGenerator<Uint8Array> {
    yield new TextEncoder().encode(LATE_ROWS.map((r) => `${r.join('\t')}\n`).join(''));
  }
  const data = await putSnapshotTableData(
    store,
    { key: (encoding) => tableSnapshotDataKey(prefix, encoding) },
    copyText(),
    { compress: true },
  );
  const manifest: TableSnapshotManifest = {
    formatVersion: 1,
    kind: 'table',
    source: 'app',
    startLsn: `0/${(markerLsn - 0x10n).toString(16).toUpperCase()}`,
    createdAt: new Date().toISOString(),
    serverVersion: 150000,
    table: {
      ...table('public', 'late', [column('id', 'integer', { notNull: true, typeOid: 23 }), column('v')], {
        oid: LATE_OID,
        primaryKey: ['id'],
      }),
      ...data,
    },
  };
  await store.put(tableSnapshotManifestKey(prefix), new TextEncoder().encode(JSON.stringify(manifest)));
}

const connect = async (db: string) => {
  const c = new pg.Client({ connectionString: cluster.url(db), options: textFormatStartupOptions() });
  await c.connect();
  return c;
};

async function sql(db: string, text: string): Promise<Record<string, unknown>[]> {
  const c = await connect(db);
  try {
    return (await c.query(text)).rows as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}

async function rowsOf(db: string, name: string): Promise<string[]> {
  const rows = await sql(db, `SELECT x::text AS r FROM ${name} x ORDER BY id`);
  return rows.map((r) => r.r as string);
}

/** Every relation (with its rows) and schema outside `skip`: "untouched" means equal before and after. */
async function outside(db: string, skip: string): Promise<Record<string, string[]>> {
  const rels = await sql(
    db,
    `SELECT format('%I.%I', n.nspname, c.relname) AS n, c.relkind::text AS k FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', '${skip}') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1`,
  );
  const out: Record<string, string[]> = {
    '<schemas>': (
      await sql(db, `SELECT nspname AS s FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' ORDER BY 1`)
    )
      .map((r) => r.s as string)
      .filter((s) => s !== skip),
  };
  for (const r of rels)
    out[`${r.k} ${r.n}`] =
      r.k === 'r'
        ? (await sql(db, `SELECT t::text AS x FROM ${r.n} t ORDER BY 1`)).map((x) => x.x as string)
        : [];
  return out;
}

const LATEST: RestoreTarget = { kind: 'latest' };
const stopped = () => new TidemarkError('RESTORE_FAILED', 'the restore service stopped (test)');

interface Run {
  readonly error?: unknown;
  readonly prepared?: PreparedTarget;
  readonly resumedFrom?: string;
}

async function run(
  id: string,
  db: string,
  scope: RestoreScope | null,
  opts: {
    target?: RestoreTarget;
    resume?: ResumeFrom;
    stopAfter?: number;
    stopWhenPrepared?: boolean;
  } = {},
): Promise<Run> {
  const abort = new AbortController();
  let prepared: PreparedTarget | undefined;
  try {
    await executeRestore({
      id,
      source: 'app',
      target: opts.target ?? LATEST,
      into: parseTargetUrl(cluster.url(db)),
      store,
      catalog,
      signal: abort.signal,
      logger: silentLogger,
      scope,
      tuning: { maxTransactionsPerBatch: 2 },
      ...(opts.resume ? { resume: opts.resume } : {}),
      onPrepared: async (p) => {
        prepared = p;
        if (opts.stopWhenPrepared) abort.abort(stopped());
      },
      onProgress: (p) => {
        if (opts.stopAfter !== undefined && (p.transactionsApplied ?? 0) >= opts.stopAfter)
          abort.abort(stopped());
      },
    });
  } catch (error) {
    return { error, ...(prepared ? { prepared } : {}) };
  }
  return prepared ? { prepared } : {};
}

/** What restore-runner.ts does at the next start, then the resumed attempt. */
async function resume(id: string, db: string, scope: RestoreScope | null, prepared: PreparedTarget) {
  const resolved = await resolveResume({
    id,
    source: 'app',
    target: LATEST,
    into: parseTargetUrl(cluster.url(db)),
    checkpoint: JSON.parse(JSON.stringify(checkpointOf(prepared))),
    catalog,
    logger: silentLogger,
    scope,
    planScoped: async (t) => scopeRestorePlan(store, await planFromCatalog(catalog, 'app', t), scope),
  });
  const again = await run(id, db, scope, {
    target: resolved.target,
    ...(resolved.resume ? { resume: resolved.resume } : {}),
  });
  return { ...again, resumedFrom: resolved.resumedFrom };
}

const scopeOf = (tables: string[], schema: string | null = null): RestoreScope => ({
  tables: tables.map((t) => {
    const [s, n] = t.split('.') as [string, string];
    return { schema: s, table: n };
  }),
  schema,
});

beforeAll(async () => {
  await initChecksums();
  cluster = await startPostgres({ flavor: 'debian15' });
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-table-resume-'));
  store = new LocalObjectStore(path.join(dir, 'journal'));
  catalog = new JournalCatalog(store);
  const txs = journal();
  const snap = await writeSnapshot(store, {
    source: 'app',
    lsn: SNAP,
    snapshotTime: T0,
    tables: [
      {
        schema: 'public',
        table: 'a',
        columns: kv,
        primaryKey: ['id'],
        data: Array.from({ length: 5 }, (_, i) => [String(i + 1), `a${i + 1}`]),
      },
      { schema: 'public', table: 'b', columns: kv, primaryKey: ['id'], data: [['1', 'b1']] },
    ],
  });
  await writeLateSnapshot();
  await writeSegments(store, {
    source: 'app',
    snapshotLsn: SNAP,
    prevSha256: snap.sha256,
    groups: [txs.slice(0, 10), txs.slice(10, 20), txs.slice(20, 30), txs.slice(30)],
  });
  await sql('postgres', 'CREATE DATABASE existing');
  await sql(
    'existing',
    `CREATE TABLE a (id integer PRIMARY KEY, v text); INSERT INTO a VALUES (1, 'mine');
     CREATE TABLE keep (x integer); INSERT INTO keep VALUES (42); CREATE SCHEMA half`,
  );
}, 120_000);

afterAll(async () => {
  await (cluster as PostgresCluster | undefined)?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const final = () => states[N] as Record<string, string[]>;

describe('a table restore resumes after the service stopped during the replay', () => {
  it('into a schema of an existing database: nothing twice, nothing else touched, the marker not reapplied', async () => {
    const before = await outside('existing', 'copy');
    const scope = scopeOf(['public.a', 'public.late'], 'copy');
    const first = await run('r_schema', 'existing', scope, { stopAfter: MARKER_AT + 4 });
    expect(first.error).toBeDefined();
    expect(first.prepared?.intoSchema).toEqual({ name: 'copy', created: true });
    // the crash left a partial restore behind, past the marker
    const progress = await sql(
      'existing',
      'SELECT transactions::int AS n FROM copy._tidemark_restore_progress',
    );
    expect(progress[0]?.n).toBeGreaterThan(MARKER_AT);
    expect(progress[0]?.n).toBeLessThan(N);

    const resumed = await resume('r_schema', 'existing', scope, first.prepared!);
    expect(resumed.error).toBeUndefined();
    expect(resumed.resumedFrom).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(await rowsOf('existing', 'copy.a')).toEqual(final().a);
    expect(await rowsOf('existing', 'copy.late')).toEqual(final().late);
    expect(await sql('existing', "SELECT to_regclass('copy._tidemark_restore_progress') AS t")).toEqual([
      { t: null },
    ]);
    expect(await outside('existing', 'copy')).toEqual(before);
  }, 60_000);

  it('into a new database', async () => {
    const scope = scopeOf(['public.b', 'public.late']);
    const first = await run('r_newdb', 'tables_new', scope, { stopAfter: MARKER_AT + 6 });
    expect(first.error).toBeDefined();
    const resumed = await resume('r_newdb', 'tables_new', scope, first.prepared!);
    expect(resumed.error).toBeUndefined();
    expect(resumed.resumedFrom).not.toBe('start');
    expect(await rowsOf('tables_new', 'b')).toEqual(final().b);
    expect(await rowsOf('tables_new', 'late')).toEqual(final().late);
    expect(
      await sql('tables_new', "SELECT to_regclass('public.a') AS t, to_regnamespace('_tidemark') AS n"),
    ).toEqual([{ t: null, n: null }]);
  }, 60_000);

  it('a whole restore that had passed a marker resumes too', async () => {
    const first = await run('r_whole', 'whole_new', null, { stopAfter: MARKER_AT + 4 });
    expect(first.error).toBeDefined();
    const resumed = await resume('r_whole', 'whole_new', null, first.prepared!);
    expect(resumed.error).toBeUndefined();
    expect(resumed.resumedFrom).not.toBe('start');
    for (const t of ['a', 'b', 'late'] as const) expect(await rowsOf('whole_new', t)).toEqual(final()[t]);
  }, 60_000);

  it('stopped before the snapshot was loaded: cleans only its own tables in a schema it found, then starts over', async () => {
    const scope = scopeOf(['public.a'], 'half');
    const first = await run('r_half', 'existing', scope, { stopWhenPrepared: true });
    expect(first.prepared?.intoSchema).toEqual({ name: 'half', created: false });
    // as if the crash came in the middle of the load
    await sql('existing', 'CREATE TABLE half.a (id integer, v text)');
    const before = await outside('existing', 'half');
    const resolved = await resolveResume({
      id: 'r_half',
      source: 'app',
      target: LATEST,
      into: parseTargetUrl(cluster.url('existing')),
      checkpoint: checkpointOf(first.prepared!),
      catalog,
      logger: silentLogger,
      scope,
      planScoped: async (t) => scopeRestorePlan(store, await planFromCatalog(catalog, 'app', t), scope),
    });
    expect(resolved.resume).toBeUndefined();
    expect(resolved.resumedFrom).toBe('start');
    expect(
      await sql('existing', "SELECT to_regclass('half.a') AS t, to_regnamespace('half') IS NOT NULL AS s"),
    ).toEqual([{ t: null, s: true }]);
    expect(await outside('existing', 'half')).toEqual(before);
    const again = await run('r_half', 'existing', scope);
    expect(again.error).toBeUndefined();
    expect(await rowsOf('existing', 'half.a')).toEqual(final().a);
  }, 60_000);
});

describe('a table restore of a table that joined the publication later', () => {
  it('builds it at its marker, alone', async () => {
    const done = await run('r_late', 'late_only', scopeOf(['public.late']));
    expect(done.error).toBeUndefined();
    expect(await rowsOf('late_only', 'late')).toEqual(final().late);
    const tables = await sql(
      'late_only',
      "SELECT relname AS t FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace",
    );
    expect(tables).toEqual([{ t: 'late' }]);
  }, 30_000);

  it('fails with UNKNOWN_TABLE, leaving nothing behind, when the target comes before its marker', async () => {
    const early: RestoreTarget = { kind: 'time', micros: T0 + BigInt(MARKER_AT - 2) * SEC };
    const done = await run('r_early', 'late_early', scopeOf(['public.a', 'public.late']), { target: early });
    expect(isTidemarkError(done.error, 'UNKNOWN_TABLE'), String(done.error)).toBe(true);
    expect(String((done.error as Error).message)).toMatch(/public\.late .*after the target/);
    expect(await sql('postgres', "SELECT 1 FROM pg_database WHERE datname = 'late_early'")).toEqual([]);
  }, 30_000);

  it('still refuses a table nobody has at submit', async () => {
    const plan = await planFromCatalog(catalog, 'app', LATEST);
    await expect(scopeRestorePlan(store, plan, scopeOf(['public.nope']))).rejects.toMatchObject({
      code: 'UNKNOWN_TABLE',
    });
  });
});
