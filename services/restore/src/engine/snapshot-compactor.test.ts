import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  initChecksums,
  isTidemarkError,
  LocalKeyProvider,
  LocalObjectStore,
  parseLsn,
  type TransactionRecord,
  textFormatStartupOptions,
} from '@tidemark/shared';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompactionService } from './compaction-service.js';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import { executeRestore, planFromCatalog, type RestoreOutcome } from './restore-executor.js';
import { listSnapshotViews } from './snapshot-listing.js';
import { parseTargetUrl } from './target-database.js';
import {
  type FixtureTable,
  type WrittenSegment,
  writeSegments,
  writeSnapshot,
} from './testing/journal-fixture.js';
import { RANDOM_JOURNAL_DUMPS, randomJournal } from './testing/random-journal.js';

/**
 * Compaction against a real PostgreSQL and a local store: a base snapshot (empty tables)
 * and a random journal; compaction snapshots built in the middle and at the end; restores
 * from them must equal the random journal's model, fall back when a compacted snapshot is
 * damaged, and fail closed with a wrong master key.
 */
const SOURCE = 'app';
const SEED = 7;
const KEY_A = `a:${Buffer.alloc(32, 1).toString('base64')}`;
const KEY_B = `a:${Buffer.alloc(32, 2).toString('base64')}`;

const TABLES: FixtureTable[] = [
  {
    schema: 'public',
    table: 't',
    columns: [
      { name: 'id', type: 'integer', notNull: true },
      { name: 'name', type: 'text' },
      { name: 'doc', type: 'text' },
      { name: 'n', type: 'numeric(12,2)' },
      { name: 'f', type: 'double precision' },
      { name: 'b', type: 'bytea' },
    ],
    primaryKey: ['id'],
    data: [],
  },
  {
    schema: 'public',
    table: 'k',
    columns: [
      { name: 'K', type: 'text', notNull: true },
      { name: 'v', type: 'text' },
    ],
    primaryKey: ['K'],
    data: [],
  },
  {
    schema: 'public',
    table: 'f',
    columns: [
      { name: 'line', type: 'text' },
      { name: 'n', type: 'integer' },
    ],
    replicaIdentity: 'full',
    data: [],
  },
  {
    schema: 'public',
    table: 'pp',
    kind: 'partitioned',
    partitionKey: 'RANGE ("at")',
    columns: [
      { name: 'at', type: 'integer', notNull: true },
      { name: 'id', type: 'integer', notNull: true },
      { name: 'v', type: 'text' },
    ],
    primaryKey: ['at', 'id'],
  },
  ...(['p1', 'p2'] as const).map(
    (name, i): FixtureTable => ({
      schema: 'public',
      table: name,
      partitionOf: {
        schema: 'public',
        table: 'pp',
        bound: `FOR VALUES FROM (${i * 10}) TO (${i * 10 + 10})`,
      },
      columns: [
        { name: 'at', type: 'integer', notNull: true },
        { name: 'id', type: 'integer', notNull: true },
        { name: 'v', type: 'text' },
      ],
      primaryKey: ['at', 'id'],
      data: [],
    }),
  ),
];

let cluster: PostgresCluster;
let dir: string;
let store: LocalObjectStore;
const keys = LocalKeyProvider.fromText(KEY_A);
let records: TransactionRecord[];
let written: WrittenSegment[] = [];
let dbCounter = 0;

const sortRows = (rows: readonly (readonly (string | null)[])[]) => rows.map((r) => JSON.stringify(r)).sort();

function expectedAfter(transactions: number): Record<string, string[]> {
  const { expected } = randomJournal(SEED, transactions);
  return Object.fromEntries(Object.entries(expected).map(([k, rows]) => [k, sortRows(rows)]));
}

async function dumpDatabase(db: string): Promise<Record<string, string[]>> {
  const client = new pg.Client({ connectionString: cluster.url(db), options: textFormatStartupOptions() });
  await client.connect();
  try {
    const out: Record<string, string[]> = {};
    for (const [name, sql] of Object.entries(RANDOM_JOURNAL_DUMPS))
      out[name] = sortRows((await client.query<(string | null)[]>({ text: sql, rowMode: 'array' })).rows);
    return out;
  } finally {
    await client.end();
  }
}

async function appendSegments(from: number, to: number, per: number): Promise<void> {
  const groups: TransactionRecord[][] = [];
  for (let i = from; i < to; i += per) groups.push(records.slice(i, Math.min(to, i + per)));
  const prev = written[written.length - 1];
  const out = await writeSegments(store, {
    source: SOURCE,
    snapshotLsn: 0x100_0000n,
    prevSha256: prev ? prev.sha256 : base.sha256,
    groups,
    compression: 'zstd',
    keys,
  });
  written = [...written, ...out];
}

async function restoreLatest(
  catalog: JournalCatalog,
): Promise<{ db: string; outcome?: RestoreOutcome; error?: unknown }> {
  const db = `restored_${++dbCounter}`;
  try {
    const outcome = await executeRestore({
      id: `r_c${dbCounter}`,
      source: SOURCE,
      target: { kind: 'latest' },
      into: parseTargetUrl(cluster.url(db)),
      store,
      catalog,
      signal: new AbortController().signal,
      logger: silentLogger,
      onProgress: () => {},
    });
    return { db, outcome };
  } catch (error) {
    return { db, error };
  }
}

let base: Awaited<ReturnType<typeof writeSnapshot>>;

beforeAll(async () => {
  await initChecksums();
  cluster = await startPostgres({ flavor: 'debian15' });
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-compaction-'));
  store = new LocalObjectStore(dir);
  records = randomJournal(SEED, 150).records;
  base = await writeSnapshot(store, {
    source: SOURCE,
    lsn: 0x100_0000n,
    snapshotTime: 1_714_557_600_000_000n,
    tables: TABLES,
  });
  await appendSegments(0, 60, 20);
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('compaction snapshots', () => {
  const service = () =>
    new CompactionService({
      store,
      catalog: new JournalCatalog(store, { keys }),
      serverUrl: cluster.url('postgres'),
      sealing: { compress: true, keys },
      logger: silentLogger,
    });

  it('builds a snapshot at the tip from the base and the segments, and restores from it exactly', async () => {
    const compaction = service();
    const job = await compaction.start(SOURCE);
    const done = await compaction.settled(job.id);
    expect(done.error).toBeNull();
    expect(done.state).toBe('succeeded');
    const result = done.result!;
    const tipLsn = records[59]!.commitLsn;
    expect(result.created).toBe(true);
    expect(parseLsn(result.lsn)).toBe(tipLsn);
    expect(result.basedOn).toEqual({ lsn: '0/1000000', manifestSha256: base.sha256 });
    expect(result.transactions).toBe(60);

    const manifest = JSON.parse(await readFile(path.join(dir, result.manifestKey), 'utf8'));
    expect(manifest.kind).toBe('compacted');
    expect(manifest.chainAnchor).toEqual({
      segmentKey: written[2]!.key,
      sha256: written[2]!.sha256,
      lastLsn: result.lsn,
    });
    // table objects are sealed: zstd blocks, encrypted; the COPY text is not in the store
    const t = manifest.tables.find((x: { table: string }) => x.table === 't');
    expect(t).toMatchObject({ encoding: 'tmblock-v1', encrypted: true, oid: base.manifest.tables[0]!.oid });
    const stored = await readFile(path.join(dir, t.dataKey));
    expect(stored.byteLength).toBe(t.storedBytes);
    expect(stored.includes(Buffer.from("it's"))).toBe(false);

    // nothing new: a second request builds nothing
    const again = await compaction.settled((await compaction.start(SOURCE)).id);
    expect(again.result).toMatchObject({ created: false, lsn: result.lsn });

    // the journal goes on after the compacted snapshot's anchor segment
    await appendSegments(60, 100, 20);
    const catalog = new JournalCatalog(store, { keys });
    const plan = await planFromCatalog(catalog, SOURCE, { kind: 'latest' });
    expect(plan.snapshot.kind).toBe('compacted');
    expect(plan.chainAnchor).toBe(written[2]!.sha256);
    expect(plan.segmentKeys).toEqual(written.slice(3).map((w) => w.key));
    // an instant before the compacted snapshot still starts from the base
    const before = await planFromCatalog(catalog, SOURCE, { kind: 'lsn', lsn: records[30]!.commitLsn });
    expect(before.snapshot.lsn).toBe('0/1000000');

    const { db, outcome, error } = await restoreLatest(catalog);
    expect(error).toBeUndefined();
    expect(outcome?.warnings).toEqual([]);
    expect(await dumpDatabase(db)).toEqual(expectedAfter(100));
    await compaction.close();
  }, 120_000);

  it('chains compactions: the next one is based on the compacted snapshot', async () => {
    const compaction = service();
    const done = await compaction.settled((await compaction.start(SOURCE)).id);
    expect(done.state).toBe('succeeded');
    expect(parseLsn(done.result!.lsn)).toBe(records[99]!.commitLsn);
    expect(parseLsn(done.result!.basedOn!.lsn)).toBe(records[59]!.commitLsn);
    expect(done.result!.transactions).toBe(40);
    await appendSegments(100, 150, 25);
    const views = await listSnapshotViews(new JournalCatalog(store, { keys }), SOURCE);
    expect(views.map((v) => v.kind)).toEqual(['base', 'compacted', 'compacted']);
    expect(views.every((v) => v.usable)).toBe(true);
    expect(views[2]!.encrypted).toBe(true);
    const { db, error } = await restoreLatest(new JournalCatalog(store, { keys }));
    expect(error).toBeUndefined();
    expect(await dumpDatabase(db)).toEqual(expectedAfter(150));
    await compaction.close();
  }, 120_000);

  it('skips a damaged compacted snapshot with a warning and restores from an older one', async () => {
    const views = await listSnapshotViews(new JournalCatalog(store, { keys }), SOURCE);
    const newest = views[views.length - 1]!;
    const manifest = JSON.parse(await readFile(path.join(dir, newest.manifestKey), 'utf8'));
    const victim = path.join(dir, manifest.tables[0].dataKey);
    const original = await readFile(victim);
    const damaged = Buffer.from(original);
    damaged[damaged.byteLength - 40]! ^= 0xff;
    await writeFile(victim, damaged);
    try {
      const catalog = new JournalCatalog(store, { keys });
      const skipped: string[] = [];
      const plan = await planFromCatalog(
        catalog,
        SOURCE,
        { kind: 'latest' },
        { deep: true, onSkipped: (s) => skipped.push(s.lsn) },
      );
      expect(skipped).toEqual([manifest.lsn]);
      expect(plan.snapshot.lsn).toBe(views[1]!.lsn);
      const { db, outcome, error } = await restoreLatest(catalog);
      expect(error).toBeUndefined();
      expect(outcome?.warnings.join('\n')).toMatch(
        new RegExp(`snapshot ${manifest.lsn} \\(compacted\\) failed verification and was not used`),
      );
      expect(await dumpDatabase(db)).toEqual(expectedAfter(150));
    } finally {
      await writeFile(victim, original);
    }
  }, 120_000);

  it('fails closed when the snapshot data does not decrypt with the configured master key', async () => {
    // the segments decrypt (key id a, same key), the compacted table data was sealed with it
    // too: with another key under the same id nothing is restored
    const { error } = await restoreLatest(
      new JournalCatalog(store, { keys: LocalKeyProvider.fromText(KEY_B) }),
    );
    expect(isTidemarkError(error, 'DECRYPT_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/^snapshot data .*\.tmb cannot be decrypted/);
  }, 60_000);
});

describe('compaction jobs', () => {
  it('refuse without a server to build on, for unknown sources and unknown jobs', async () => {
    const code = async (p: Promise<unknown> | (() => unknown)) => {
      try {
        await (typeof p === 'function' ? p() : p);
        return undefined;
      } catch (err) {
        return isTidemarkError(err) ? err.code : String(err);
      }
    };
    const catalog = new JournalCatalog(store, { keys });
    const off = new CompactionService({ store, catalog, sealing: { compress: true }, logger: silentLogger });
    expect(off.available).toBe(false);
    expect(await code(off.start(SOURCE))).toBe('COMPACTION_UNAVAILABLE');
    const on = new CompactionService({
      store,
      catalog,
      serverUrl: cluster.url('postgres'),
      sealing: { compress: true },
      logger: silentLogger,
    });
    expect(await code(on.start('nope'))).toBe('UNKNOWN_SOURCE');
    expect(await code(() => on.get('c_nope'))).toBe('UNKNOWN_JOB');
    await on.close();
    expect(await code(on.start(SOURCE))).toBe('JOURNAL_NOT_READY');
  });
});
