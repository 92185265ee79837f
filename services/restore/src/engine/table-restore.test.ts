import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  initChecksums,
  isTidemarkError,
  LocalObjectStore,
  type ObjectStore,
  TidemarkError,
  type TransactionRecord,
  textFormatStartupOptions,
} from '@tidemark/shared';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import { executeRestore } from './restore-executor.js';
import type { RestoreScope } from './restore-scope.js';
import type { RestoreTarget } from './restore-target.js';
import { parseTargetUrl } from './target-database.js';
import {
  type FixtureTable,
  relationOf,
  TxBuilder,
  writeSegments,
  writeSnapshot,
} from './testing/journal-fixture.js';

/**
 * Table restores against a real PostgreSQL: a source database gets the same rows and
 * changes (as SQL) as the journal written by hand, so each restore is compared with the
 * state the source really had. The journal names the partition root for changes of its
 * partitions, as capture does (publish_via_partition_root).
 */
const T0 = 1_714_557_600_000_000n;
const SNAP = 0x100_0000n;
const SEC = 1_000_000n;

const SOURCE_DDL = [
  'CREATE TABLE a (id integer PRIMARY KEY, v text)',
  'CREATE TABLE b (id integer PRIMARY KEY, v text)',
  'CREATE SCHEMA other',
  'CREATE TABLE other.a (id integer PRIMARY KEY, v text)',
  'CREATE TABLE ev (id integer NOT NULL, v text, PRIMARY KEY (id)) PARTITION BY RANGE (id)',
  'CREATE TABLE ev_1 PARTITION OF ev FOR VALUES FROM (0) TO (100)',
  'CREATE TABLE ev_2 PARTITION OF ev FOR VALUES FROM (100) TO (200)',
];
const kv = [
  { name: 'id', type: 'integer', notNull: true },
  { name: 'v', type: 'text' },
];
const TABLES: FixtureTable[] = [
  {
    schema: 'public',
    table: 'a',
    columns: kv,
    primaryKey: ['id'],
    data: [
      ['1', 'a1'],
      ['2', 'a2'],
    ],
  },
  { schema: 'public', table: 'b', columns: kv, primaryKey: ['id'], data: [['1', 'b1']] },
  { schema: 'other', table: 'a', columns: kv, primaryKey: ['id'], data: [['1', 'oa1']] },
  {
    schema: 'public',
    table: 'ev',
    kind: 'partitioned',
    partitionKey: 'RANGE (id)',
    columns: kv,
    primaryKey: ['id'],
  },
  {
    schema: 'public',
    table: 'ev_1',
    columns: kv,
    partitionOf: { schema: 'public', table: 'ev', bound: 'FOR VALUES FROM (0) TO (100)' },
    data: [
      ['5', 'e5'],
      ['6', 'e6'],
    ],
  },
  {
    schema: 'public',
    table: 'ev_2',
    columns: kv,
    partitionOf: { schema: 'public', table: 'ev', bound: 'FOR VALUES FROM (100) TO (200)' },
    data: [['105', 'e105']],
  },
];
const DUMPED = ['a', 'b', 'other.a', 'ev_1', 'ev_2'];
const A = relationOf(1, 'public', 'a', [['id', true], 'v']);
const B = relationOf(2, 'public', 'b', [['id', true], 'v']);
const OA = relationOf(3, 'other', 'a', [['id', true], 'v']);
const EV = relationOf(4, 'public', 'ev', [['id', true], 'v']);

interface Step {
  readonly tx: TransactionRecord;
  readonly sql: string;
}

function journal(): Step[] {
  const b = new TxBuilder('app', SNAP, T0);
  const t = { timeStep: SEC };
  return [
    {
      tx: b.tx(
        [A, B, EV, OA],
        [
          { op: 'insert', rel: 0, new: { values: ['3', 'a3'] } },
          { op: 'insert', rel: 1, new: { values: ['2', 'b2'] } },
          { op: 'insert', rel: 2, new: { values: ['50', 'e50'] } },
          { op: 'insert', rel: 2, new: { values: ['150', 'e150'] } },
          { op: 'update', rel: 3, new: { values: ['1', 'oa1-upd'] } },
        ],
        t,
      ),
      sql: `INSERT INTO a VALUES (3, 'a3'); INSERT INTO b VALUES (2, 'b2'); INSERT INTO ev VALUES (50, 'e50'), (150, 'e150');
            UPDATE other.a SET v = 'oa1-upd' WHERE id = 1`,
    },
    {
      // a row moves from ev_1 to ev_2: the journal has one update on the root
      tx: b.tx(
        [EV, B],
        [
          {
            op: 'update',
            rel: 0,
            old: { values: ['5', null] },
            oldKind: 'key',
            new: { values: ['155', 'e5-moved'] },
          },
          { op: 'delete', rel: 0, old: { values: ['105', null] }, oldKind: 'key' },
          { op: 'update', rel: 1, new: { values: ['1', 'b1-upd'] } },
        ],
        t,
      ),
      sql: `UPDATE ev SET id = 155, v = 'e5-moved' WHERE id = 5; DELETE FROM ev WHERE id = 105; UPDATE b SET v = 'b1-upd' WHERE id = 1`,
    },
    {
      tx: b.tx(
        [A, B],
        [
          { op: 'truncate', rels: [0, 1], cascade: false, restartIdentity: false },
          { op: 'insert', rel: 0, new: { values: ['10', 'a10'] } },
        ],
        t,
      ),
      sql: `TRUNCATE a, b; INSERT INTO a VALUES (10, 'a10')`,
    },
    {
      tx: b.tx([B], [{ op: 'insert', rel: 0, new: { values: ['7', 'b7'] } }], t),
      sql: `INSERT INTO b VALUES (7, 'b7')`,
    },
  ];
}

let cluster: PostgresCluster;
let dir: string;
let store: ObjectStore;
let steps: Step[];
const states: Record<string, string[]>[] = [];
let counter = 0;

const connect = async (db: string) => {
  const c = new pg.Client({ connectionString: cluster.url(db), options: textFormatStartupOptions() });
  await c.connect();
  return c;
};

async function dump(c: pg.Client, tables: readonly string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of tables) {
    const { rows } = await c.query<{ r: string }>(`SELECT x::text AS r FROM ${t} x ORDER BY 1`);
    out[t] = rows.map((r) => r.r);
  }
  return out;
}

/** Every object outside the system schemas with its rows: "untouched" means this is equal before and after. */
async function wholeDatabase(db: string): Promise<Record<string, string[]>> {
  const c = await connect(db);
  try {
    const { rows } = await c.query<{ n: string; s: string; r: string; k: string }>(
      `SELECT c.oid::regclass::text AS n, n.nspname AS s, c.relname AS r, c.relkind::text AS k
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1`,
    );
    const out: Record<string, string[]> = {};
    const schemas = await c.query<{ s: string }>(
      `SELECT nspname AS s FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1`,
    );
    out['<schemas>'] = schemas.rows.map((r) => r.s);
    for (const r of rows) {
      out[`${r.k} ${r.n}`] =
        r.k === 'r' || r.k === 'p'
          ? (await c.query<{ x: string }>(`SELECT t::text AS x FROM ${r.n} t ORDER BY 1`)).rows.map(
              (x) => x.x,
            )
          : [];
    }
    return out;
  } finally {
    await c.end();
  }
}

async function restore(
  target: RestoreTarget,
  scope: RestoreScope,
  db = `tables_${++counter}`,
  onPhase?: (phase: string, abort: AbortController) => void,
): Promise<{ db: string; error?: unknown }> {
  const abort = new AbortController();
  try {
    await executeRestore({
      id: `r_tables${counter}`,
      source: 'app',
      target,
      into: parseTargetUrl(cluster.url(db)),
      store,
      catalog: new JournalCatalog(store),
      signal: abort.signal,
      logger: silentLogger,
      scope,
      onProgress: (p) => {
        if (p.phase) onPhase?.(p.phase, abort);
      },
    });
  } catch (error) {
    return { db, error };
  }
  return { db };
}

const atStep = (i: number): RestoreTarget => ({ kind: 'time', micros: T0 + BigInt(i) * SEC });
const scope = (tables: string[], schema: string | null = null): RestoreScope => ({
  tables: tables.map((t) => {
    const [s, n] = t.split('.') as [string, string];
    return { schema: s, table: n };
  }),
  schema,
});

async function userTables(db: string): Promise<string[]> {
  const c = await connect(db);
  try {
    const { rows } = await c.query<{ t: string; p: boolean }>(
      `SELECT n.nspname || '.' || c.relname AS t, c.relispartition AS p FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    );
    return rows.map((r) => `${r.t}${r.p ? ' (partition)' : ''}`);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await initChecksums();
  cluster = await startPostgres({ flavor: 'debian15' });
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-tables-'));
  store = new LocalObjectStore(path.join(dir, 'journal'));
  const admin = await connect('postgres');
  await admin.query('CREATE DATABASE source');
  await admin.end();
  const src = await connect('source');
  for (const sql of SOURCE_DDL) await src.query(sql);
  for (const t of TABLES)
    for (const row of t.data ?? [])
      await src.query(`INSERT INTO ${t.schema}.${t.table} VALUES ($1, $2)`, [...row]);
  states.push(await dump(src, DUMPED));
  steps = journal();
  for (const step of steps) {
    await src.query(`BEGIN; ${step.sql}; COMMIT`);
    states.push(await dump(src, DUMPED));
  }
  await src.end();
  const snap = await writeSnapshot(store, { source: 'app', lsn: SNAP, snapshotTime: T0, tables: TABLES });
  await writeSegments(store, {
    source: 'app',
    snapshotLsn: SNAP,
    prevSha256: snap.sha256,
    groups: [steps.slice(0, 2).map((s) => s.tx), steps.slice(2).map((s) => s.tx)],
  });
}, 120_000);

afterAll(async () => {
  await (cluster as PostgresCluster | undefined)?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('table restore into a new database', () => {
  it('builds only the listed tables, a partition listed alone as a plain table, exact at every instant', async () => {
    for (const i of [0, 1, 2, 3, 4]) {
      const { db, error } = await restore(atStep(i), scope(['public.a', 'public.ev_2']));
      expect(error, `step ${i}`).toBeUndefined();
      expect(await userTables(db)).toEqual(['public.a', 'public.ev_2']);
      const c = await connect(db);
      try {
        expect(await dump(c, ['a', 'ev_2']), `step ${i}`).toEqual({ a: states[i]?.a, ev_2: states[i]?.ev_2 });
        const pk = await c.query(
          "SELECT 1 FROM pg_constraint WHERE conrelid = 'ev_2'::regclass AND contype = 'p'",
        );
        expect(pk.rowCount).toBe(1);
      } finally {
        await c.end();
      }
    }
  });

  it('brings the partitions of a partitioned table', async () => {
    const { db, error } = await restore({ kind: 'latest' }, scope(['public.ev', 'other.a']));
    expect(error).toBeUndefined();
    expect(await userTables(db)).toEqual([
      'other.a',
      'public.ev',
      'public.ev_1 (partition)',
      'public.ev_2 (partition)',
    ]);
    const c = await connect(db);
    try {
      const last = states[steps.length];
      expect(await dump(c, ['other.a', 'ev_1', 'ev_2'])).toEqual({
        'other.a': last?.['other.a'],
        ev_1: last?.ev_1,
        ev_2: last?.ev_2,
      });
    } finally {
      await c.end();
    }
  });

  it('answers UNKNOWN_TABLE before writing anything', async () => {
    const { db, error } = await restore({ kind: 'latest' }, scope(['public.aa']));
    expect(isTidemarkError(error, 'UNKNOWN_TABLE')).toBe(true);
    expect((error as Error).message).toMatch(/public\.aa \(did you mean public\.a/);
    const admin = await connect('postgres');
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
    await admin.end();
    expect(exists.rowCount).toBe(0);
  });
});

describe('table restore into a schema of an existing database', () => {
  const existing = 'existing';
  let before: Record<string, string[]>;

  beforeAll(async () => {
    const admin = await connect('postgres');
    await admin.query(`CREATE DATABASE ${existing}`);
    await admin.end();
    const c = await connect(existing);
    // its own tables with the source's names, a _tidemark schema of its own, an empty schema
    await c.query(`CREATE TABLE a (id integer PRIMARY KEY, v text); INSERT INTO a VALUES (1, 'mine');
      CREATE SCHEMA app; CREATE TABLE app.orders (id serial PRIMARY KEY, note text); INSERT INTO app.orders (note) VALUES ('x'), ('y');
      CREATE VIEW app.v AS SELECT * FROM a;
      CREATE SCHEMA _tidemark; CREATE TABLE _tidemark.restore_progress (restore_id text); INSERT INTO _tidemark.restore_progress VALUES ('theirs');
      CREATE SCHEMA busy; CREATE FUNCTION busy.f() RETURNS int LANGUAGE sql AS 'SELECT 1';
      CREATE SCHEMA empty_one`);
    await c.end();
    before = await wholeDatabase(existing);
  });

  const untouched = async (ignoreSchema?: string) => {
    const now = await wholeDatabase(existing);
    const drop = (state: Record<string, string[]>) => {
      const out: Record<string, string[]> = {};
      for (const [k, v] of Object.entries(state)) {
        if (ignoreSchema && k.includes(` ${ignoreSchema}.`)) continue;
        out[k] = k === '<schemas>' ? v.filter((s) => s !== ignoreSchema) : v;
      }
      return out;
    };
    expect(drop(now)).toEqual(drop(before));
  };

  it('restores the tables into the schema and touches nothing else', async () => {
    const { error } = await restore(
      atStep(2),
      scope(['public.a', 'public.ev_1', 'public.b'], 'restored_x'),
      existing,
    );
    expect(error).toBeUndefined();
    await untouched('restored_x');
    const now = await wholeDatabase(existing);
    expect(
      Object.keys(now)
        .filter((k) => k.includes('restored_x.'))
        .sort((x, y) => (x < y ? -1 : 1)),
    ).toEqual([
      'i restored_x.a_pkey',
      'i restored_x.b_pkey',
      'i restored_x.ev_1_pkey',
      'r restored_x.a',
      'r restored_x.b',
      'r restored_x.ev_1',
    ]);
    const c = await connect(existing);
    try {
      expect(await dump(c, ['restored_x.a', 'restored_x.b', 'restored_x.ev_1'])).toEqual({
        'restored_x.a': states[2]?.a,
        'restored_x.b': states[2]?.b,
        'restored_x.ev_1': states[2]?.ev_1,
      });
    } finally {
      await c.end();
    }
  });

  it('refuses a schema that is not empty, naming it, and changes nothing', async () => {
    const { error } = await restore({ kind: 'latest' }, scope(['public.a'], 'busy'), existing);
    expect(isTidemarkError(error, 'TARGET_NOT_EMPTY')).toBe(true);
    expect((error as Error).message).toMatch(
      /schema busy of database existing .* not empty \(it holds function f\)/,
    );
    const again = await restore({ kind: 'latest' }, scope(['public.a'], 'restored_x'), existing);
    expect(isTidemarkError(again.error, 'TARGET_NOT_EMPTY')).toBe(true);
    await untouched('restored_x');
  });

  it('a cancelled restore drops the schema it created, or only its tables in an empty schema it found', async () => {
    for (const schema of ['fresh_schema', 'empty_one']) {
      const { error } = await restore(
        { kind: 'latest' },
        scope(['public.a', 'public.ev_2'], schema),
        existing,
        (phase, abort) => {
          if (phase === 'replaying') abort.abort(new TidemarkError('CANCELLED', 'restore was cancelled'));
        },
      );
      expect(isTidemarkError(error, 'CANCELLED'), String(error)).toBe(true);
      expect((error as TidemarkError).details.targetCleaned).toBe(true);
      expect((error as Error).message).toMatch(/nothing else was touched/);
      await untouched('restored_x');
    }
  });
});
