import { isTidemarkError, type TransactionRecord, textFormatStartupOptions } from '@tidemark/shared';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApplyOptions, applyJournal } from './change-applier.js';
import type { JournalEntry } from './journal-reader.js';
import type { TargetTableInfo } from './sql-for-change.js';
import { tableKey } from './sql-ident.js';
import { relationOf, TxBuilder } from './testing/journal-fixture.js';
import { RANDOM_JOURNAL_DDL, RANDOM_JOURNAL_DUMPS, randomJournal } from './testing/random-journal.js';

/**
 * The applier against a real PostgreSQL: batched replay must leave exactly the state a
 * journal describes, and a failure must name the exact change, as one statement per
 * change would.
 */
let cluster: PostgresCluster;
let dbCounter = 0;

beforeAll(async () => {
  cluster = await startPostgres({ flavor: 'debian15' });
}, 120_000);

afterAll(async () => {
  await (cluster as PostgresCluster | undefined)?.stop();
});

async function freshDatabase(ddl: readonly string[]): Promise<pg.Client> {
  const db = `applier_${++dbCounter}`;
  const admin = new pg.Client({ connectionString: cluster.url('postgres') });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const client = new pg.Client({ connectionString: cluster.url(db), options: textFormatStartupOptions() });
  await client.connect();
  for (const sql of ddl) await client.query(sql);
  return client;
}

const PP = tableKey('public', 'pp');
const RANDOM_TABLES = new Map<string, TargetTableInfo>([
  [tableKey('public', 't'), { kind: 'table', primaryKey: ['id'] }],
  [tableKey('public', 'k'), { kind: 'table', primaryKey: ['K'] }],
  [tableKey('public', 'f'), { kind: 'table', primaryKey: null }],
  [PP, { kind: 'partitioned', primaryKey: ['at', 'id'], partitionRoot: PP }],
  [tableKey('public', 'p1'), { kind: 'table', primaryKey: ['at', 'id'], partitionRoot: PP }],
  [tableKey('public', 'p2'), { kind: 'table', primaryKey: ['at', 'id'], partitionRoot: PP }],
]);

async function* entriesOf(records: readonly TransactionRecord[]): AsyncGenerator<JournalEntry> {
  for (const [i, record] of records.entries()) yield { record, segmentKey: 'app/seg-1', offset: 100 + i };
}

/** Applies the records; returns how many queries reached the connection, or the error. */
async function apply(
  client: pg.Client,
  records: readonly TransactionRecord[],
  tables: ReadonlyMap<string, TargetTableInfo>,
  tuning: Partial<ApplyOptions> = {},
): Promise<{ queries: number; texts: string[]; error?: unknown }> {
  const texts: string[] = [];
  const query = client.query.bind(client);
  client.query = ((...args: Parameters<typeof query>) => {
    const q = args[0] as unknown;
    texts.push(typeof q === 'string' ? q : String((q as { text?: unknown }).text));
    return query(...args);
  }) as typeof client.query;
  try {
    await applyJournal({
      client,
      restoreId: 'r1',
      entries: entriesOf(records),
      stopRule: { kind: 'lsn', lsn: 2n ** 62n },
      tables,
      ...tuning,
    });
    return { queries: texts.length, texts };
  } catch (error) {
    return { queries: texts.length, texts, error };
  } finally {
    client.query = query;
  }
}

const sortRows = (rows: readonly (readonly (string | null)[])[]) => rows.map((r) => JSON.stringify(r)).sort();

async function dumpRandom(client: pg.Client): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [name, sql] of Object.entries(RANDOM_JOURNAL_DUMPS))
    out[name] = sortRows((await client.query<(string | null)[]>({ text: sql, rowMode: 'array' })).rows);
  return out;
}

describe('batched replay is exact', () => {
  const tunings: [string, Partial<ApplyOptions>][] = [
    ['default tuning', {}],
    ['small batches, COPY from 2 rows', { maxTransactionsPerBatch: 3, copyMinRows: 2 }],
    ['one transaction per batch, no COPY', { maxTransactionsPerBatch: 1, copyMinRows: 1_000_000 }],
  ];
  it.each(tunings)('leaves what a random journal describes (%s)', async (_name, tuning) => {
    for (const seed of [1, 2, 3]) {
      const { records, expected } = randomJournal(seed, 300);
      const client = await freshDatabase(RANDOM_JOURNAL_DDL);
      try {
        const { queries, texts, error } = await apply(client, records, RANDOM_TABLES, tuning);
        expect(error).toBeUndefined();
        // every path was taken: merged statements, COPY, REPLICA IDENTITY FULL, truncate
        const sent = texts.join('\n');
        for (const part of [
          'FROM (VALUES',
          'USING (VALUES',
          'INSERT INTO "public"."p1"',
          'ctid = (SELECT',
          'TRUNCATE',
        ])
          expect(sent).toContain(part);
        if (tuning.copyMinRows === 2) expect(sent).toContain('COPY "public"."t"');
        const want = Object.fromEntries(Object.entries(expected).map(([k, rows]) => [k, sortRows(rows)]));
        expect(await dumpRandom(client)).toEqual(want);
        const changes = records.reduce((n, r) => n + r.changes.length, 0);
        if (tuning.maxTransactionsPerBatch === undefined) expect(queries).toBeLessThan(changes / 20);
        const progress = await client.query('SELECT transactions FROM _tidemark.restore_progress');
        expect(progress.rows).toEqual([{ transactions: '300' }]);
      } finally {
        await client.end();
      }
    }
  });
});

describe('a failed batch names the change at fault', () => {
  const t = relationOf(1, 'public', 't', [['id', true], 'v']);
  const tables = new Map<string, TargetTableInfo>([
    [tableKey('public', 't'), { kind: 'table', primaryKey: ['id'] }],
  ]);
  const ddl = [
    'CREATE TABLE t (id integer PRIMARY KEY, v text)',
    "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 20) g",
  ];
  const journal = (fault: (b: TxBuilder) => TransactionRecord): TransactionRecord[] => {
    const b = new TxBuilder('app', 0x100_0000n, 1_714_557_600_000_000n);
    const upd = (id: number) => b.tx([t], [{ op: 'update', rel: 0, new: { values: [String(id), 'u'] } }]);
    const ins = (id: number) => b.tx([t], [{ op: 'insert', rel: 0, new: { values: [String(id), 'i'] } }]);
    // updates and inserts that merge into runs across transactions, the fault in the middle
    return [upd(1), ins(101), upd(2), upd(3), ins(102), fault(b), upd(4), ins(103), upd(5)];
  };
  const at = (records: TransactionRecord[]) => ({
    segmentKey: 'app/seg-1',
    offset: 105,
    commitLsn: `0/${(records[5]?.commitLsn ?? 0n).toString(16).toUpperCase()}`,
    xid: records[5]?.xid,
  });

  it('an update that finds no row, inside a merged UPDATE', async () => {
    const records = journal((b) => b.tx([t], [{ op: 'update', rel: 0, new: { values: ['99', 'x'] } }]));
    const client = await freshDatabase(ddl);
    try {
      const { error } = await apply(client, records, tables);
      expect(isTidemarkError(error, 'RESTORE_FAILED')).toBe(true);
      expect((error as Error).message).toMatch(/^update of public\.t matched 0 rows instead of 1/);
      expect((error as { details: unknown }).details).toMatchObject(at(records));
      // rolled back: nothing of the batch is left
      expect((await client.query("SELECT count(*)::int AS n FROM t WHERE v IN ('u', 'i')")).rows).toEqual([
        { n: 0 },
      ]);
    } finally {
      await client.end();
    }
  });

  it('a delete that finds no row, inside a merged DELETE', async () => {
    const del = (id: string) => ({
      op: 'delete' as const,
      rel: 0,
      old: { values: [id, null] },
      oldKind: 'key' as const,
    });
    const records = journal((b) => b.tx([t], [del('7'), del('98'), del('8')]));
    const client = await freshDatabase(ddl);
    try {
      const { error } = await apply(client, records, tables);
      expect((error as Error).message).toMatch(/^delete from public\.t matched 0 rows instead of 1/);
      expect((error as { details: unknown }).details).toMatchObject(at(records));
    } finally {
      await client.end();
    }
  });

  it('a statement PostgreSQL rejects inside a multi-row INSERT, with earlier batches committed', async () => {
    const records = journal((b) => b.tx([t], [{ op: 'insert', rel: 0, new: { values: ['10', 'dup'] } }]));
    const client = await freshDatabase(ddl);
    try {
      // batches of 2 transactions: the fault's batch fails while the next one is planned
      const { error } = await apply(client, records, tables, { maxTransactionsPerBatch: 2 });
      expect(isTidemarkError(error, 'RESTORE_FAILED')).toBe(true);
      expect((error as Error).message).toMatch(/duplicate key value violates unique constraint "t_pkey"/);
      expect((error as { details: unknown }).details).toMatchObject({ ...at(records), sqlState: '23505' });
      const progress = await client.query('SELECT transactions FROM _tidemark.restore_progress');
      expect(progress.rows).toEqual([{ transactions: '4' }]);
      // batches [upd 1, ins 101] [upd 2, upd 3] committed; [ins 102, fault] rolled back
      expect((await client.query("SELECT id FROM t WHERE v = 'i' ORDER BY id")).rows).toEqual([{ id: 101 }]);
    } finally {
      await client.end();
    }
  });
});
