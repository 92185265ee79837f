import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CaptureService, silentLogger as captureLogger } from '@tidemark/capture';
import { Journal } from '@tidemark/journal';
import { initChecksums, isTidemarkError, LocalObjectStore, textFormatStartupOptions } from '@tidemark/shared';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import { executeRestore } from './restore-executor.js';
import { RestorePointService } from './restore-points.js';
import { RestoreRunner } from './restore-runner.js';
import { parseRestoreTarget } from './restore-target.js';
import { parseTargetUrl } from './target-database.js';

/**
 * The oracle for xid and restore point targets, captured for real: a source database
 * runs a workload through CaptureService into a Journal in a LocalObjectStore, restore
 * points are written into it by the RestorePointService, and after every commit the
 * source's tables are dumped. A restore to a target must equal the dump taken right
 * after (or, exclusive, right before) the transaction the target names.
 */
const SCHEMA = `
  CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2));
  CREATE TABLE ledger (id bigint PRIMARY KEY, account int, amount numeric(12,2), note text);
  INSERT INTO accounts VALUES (1, 'ann', 100.00), (2, 'bob', 50.00);
  INSERT INTO ledger VALUES (1, 1, 100.00, 'opening'), (2, 2, 50.00, 'opening');`;

type Dump = Record<string, string[]>;

let cluster: PostgresCluster;
let dir: string;
let store: LocalObjectStore;
let catalog: JournalCatalog;
let journal: Journal;
let capture: CaptureService;
let points: RestorePointService;
let sourceUrl: string;
/** the state after each named moment of the workload */
const states = new Map<string, Dump>();
/** xids of the workload's transactions (as txid_current() answered them) */
const xids = new Map<string, string>();
let counter = 0;

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, options: textFormatStartupOptions() });
  await c.connect();
  return c;
}

async function dump(url: string): Promise<Dump> {
  const c = await connect(url);
  try {
    const out: Dump = {};
    for (const t of ['accounts', 'ledger']) {
      const { rows } = await c.query<{ r: string }>(`SELECT x::text AS r FROM ${t} x ORDER BY 1`);
      out[t] = rows.map((r) => r.r);
    }
    return out;
  } finally {
    await c.end();
  }
}

/** one transaction on the source; answers its xid */
async function tx(c: pg.Client, name: string, statements: string[]): Promise<void> {
  await c.query('BEGIN');
  const { rows } = await c.query<{ x: string }>('SELECT txid_current()::text AS x');
  for (const s of statements) await c.query(s);
  await c.query('COMMIT');
  xids.set(name, rows[0]!.x);
  states.set(name, await dump(sourceUrl));
}

async function restoreTo(target: unknown): Promise<{ db: string; error?: unknown }> {
  const db = `targets_${++counter}`;
  try {
    await executeRestore({
      id: `r_targets${counter}`,
      source: 'app',
      target: parseRestoreTarget(target),
      into: parseTargetUrl(cluster.url(db)),
      store,
      catalog: new JournalCatalog(store),
      signal: new AbortController().signal,
      logger: silentLogger,
      tuning: { maxTransactionsPerBatch: 2 },
      onProgress: () => {},
    });
  } catch (error) {
    return { db, error };
  }
  return { db };
}

async function databaseExists(db: string): Promise<boolean> {
  const c = await connect(cluster.url('postgres'));
  try {
    return (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [db])).rowCount === 1;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await initChecksums();
  cluster = await startPostgres({ flavor: 'debian15' });
  sourceUrl = cluster.url('source');
  const admin = await connect(cluster.url('postgres'));
  await admin.query('CREATE DATABASE source');
  await admin.end();
  const setup = await connect(sourceUrl);
  await setup.query(SCHEMA);
  await setup.end();

  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-targets-'));
  store = new LocalObjectStore(path.join(dir, 'journal'));
  catalog = new JournalCatalog(store);
  journal = new Journal({ store, source: 'app', maxSegmentBytes: 1 << 20, maxSegmentAgeMs: 20 });
  await journal.open();
  capture = new CaptureService({
    sourceUrl,
    sourceName: 'app',
    slotName: 'tm_targets',
    publicationName: 'tidemark_targets',
    tablesWithoutKey: 'refuse',
    store,
    sink: journal,
    heartbeatIntervalMs: 0,
    logger: captureLogger,
  });
  await capture.start();
  states.set('snapshot', await dump(sourceUrl));
  points = new RestorePointService({ catalog, sourceUrls: { app: sourceUrl }, logger: silentLogger });

  const s = await connect(sourceUrl);
  const other = await connect(sourceUrl);
  try {
    await tx(s, 'transfer', [
      'UPDATE accounts SET balance = balance - 10 WHERE id = 1',
      'UPDATE accounts SET balance = balance + 10 WHERE id = 2',
      "INSERT INTO ledger VALUES (3, 1, -10, 'to bob'), (4, 2, 10, 'from ann')",
    ]);
    await tx(s, 'open-carl', ["INSERT INTO accounts VALUES (3, 'carl', 0)"]);
    await points.create('app', 'before-deploy');
    states.set('before-deploy', await dump(sourceUrl));
    await tx(s, 'bad-deploy', ['UPDATE accounts SET balance = 0', "UPDATE ledger SET note = 'lost'"]);
    // interleaved: `slow` gets its xid first, `fast` commits first
    await s.query('BEGIN');
    const slow = await s.query<{ x: string }>('SELECT txid_current()::text AS x');
    await s.query("UPDATE accounts SET owner = 'ann (slow)' WHERE id = 1");
    await tx(other, 'fast', ["INSERT INTO accounts VALUES (5, 'eve', 5)"]);
    await s.query('COMMIT');
    xids.set('slow', slow.rows[0]!.x);
    states.set('slow', await dump(sourceUrl));
    // a transaction that rolled back never reaches the journal
    await s.query('BEGIN');
    const aborted = await s.query<{ x: string }>('SELECT txid_current()::text AS x');
    await s.query("INSERT INTO accounts VALUES (9, 'ghost', 9)");
    await s.query('ROLLBACK');
    xids.set('aborted', aborted.rows[0]!.x);
    await tx(s, 'cleanup', ['DELETE FROM ledger WHERE id > 2']);
    await points.create('app', 'after-cleanup');
    states.set('after-cleanup', await dump(sourceUrl));
    await tx(s, 'open-dan', ["INSERT INTO accounts VALUES (4, 'dan', 1)"]);
    await points.create('app', 'end');
  } finally {
    await s.end();
    await other.end();
  }
  // everything is archived once the last restore point is
  for (let i = 0; i < 400; i++) {
    if ((await catalog.listRestorePoints('app')).some((p) => p.name === 'end')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
}, 120_000);

afterAll(async () => {
  await capture?.stop();
  await journal?.close();
  await (cluster as PostgresCluster | undefined)?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('restore points, captured for real', () => {
  it('lists the restore points of the journal in commit order', async () => {
    const list = await points.list('app');
    expect(list.map((p) => p.name)).toEqual(['before-deploy', 'after-cleanup', 'end']);
    for (const p of list) {
      expect(p.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(p.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    }
  });

  it('restores to a restore point: every transaction up to it, none after', async () => {
    for (const name of ['before-deploy', 'after-cleanup']) {
      const { db, error } = await restoreTo({ restorePoint: name });
      expect(error).toBeUndefined();
      expect(await dump(cluster.url(db)), name).toEqual(states.get(name));
    }
    // the state just before the bad deploy differs from the one after it
    expect(states.get('before-deploy')).not.toEqual(states.get('bad-deploy'));
  });

  it('refuses a name that exists, in the journal or created moments ago', async () => {
    const dup = await points.create('app', 'before-deploy').catch((e: unknown) => e);
    expect(isTidemarkError(dup, 'CONFLICT')).toBe(true);
    expect((dup as Error).message).toContain('already has a restore point named "before-deploy"');
    await points.create('app', 'fresh');
    const again = await points.create('app', 'fresh').catch((e: unknown) => e);
    expect(isTidemarkError(again, 'CONFLICT')).toBe(true);
    const bad = await points.create('app', 'no spaces').catch((e: unknown) => e);
    expect(isTidemarkError(bad, 'BAD_REQUEST')).toBe(true);
  });

  it('cannot write a restore point where the source URL is unknown', async () => {
    const elsewhere = new RestorePointService({ catalog, sourceUrls: {}, logger: silentLogger });
    const err = await elsewhere.create('app', 'x').catch((e: unknown) => e);
    expect(isTidemarkError(err, 'SOURCE_NOT_READY')).toBe(true);
    expect((err as Error).message).toContain(
      'restore points must be created where the source URL is configured',
    );
    expect((await elsewhere.list('app')).map((p) => p.name)).toContain('before-deploy');
  });

  it('plans a restore to a restore point without creating anything (dry run)', async () => {
    const runner = new RestoreRunner({
      store,
      catalog,
      stateDir: path.join(dir, 'dry-run-state'),
      maxConcurrent: 1,
      logger: silentLogger,
    });
    try {
      const listed = (await points.list('app')).find((p) => p.name === 'before-deploy')!;
      const plan = await runner.plan({
        source: 'app',
        target: { restorePoint: 'before-deploy' },
        into: { url: cluster.url('never_created') },
      });
      expect(plan.restorePoint).toEqual({
        name: 'before-deploy',
        lsn: listed.lsn,
        time: listed.time,
        xid: listed.xid,
      });
      expect(plan.stopRule).toEqual({ lsn: listed.lsn });
      expect(plan.segments).toBeGreaterThan(0);
      expect(plan.totalBytes).toBeGreaterThan(plan.snapshotBytes);
      expect(await databaseExists('never_created')).toBe(false);
      expect(runner.list()).toEqual([]);
    } finally {
      await runner.close();
    }
  });
});

describe('xid targets, captured for real', () => {
  it('stops right after the transaction (inclusive) or right before it (exclusive)', async () => {
    const cases: [name: string, inclusive: boolean, state: string][] = [
      ['transfer', true, 'transfer'],
      ['transfer', false, 'snapshot'],
      ['bad-deploy', false, 'before-deploy'],
      ['bad-deploy', true, 'bad-deploy'],
      ['open-dan', true, 'open-dan'],
    ];
    for (const [name, inclusive, state] of cases) {
      const { db, error } = await restoreTo({ xid: xids.get(name), inclusive });
      expect(error, `${name} ${inclusive}`).toBeUndefined();
      expect(await dump(cluster.url(db)), `${name} inclusive=${inclusive}`).toEqual(states.get(state));
    }
  });

  it('follows commit order, not xid order, for transactions that overlapped', async () => {
    // `slow` took its xid before `fast`, but committed after it
    expect(BigInt(xids.get('slow')!)).toBeLessThan(BigInt(xids.get('fast')!));
    const beforeSlow = await restoreTo({ xid: Number(xids.get('slow')), inclusive: false });
    expect(await dump(cluster.url(beforeSlow.db))).toEqual(states.get('fast'));
    const withSlow = await restoreTo({ xid: xids.get('slow') });
    expect(await dump(cluster.url(withSlow.db))).toEqual(states.get('slow'));
    const beforeFast = await restoreTo({ xid: xids.get('fast'), inclusive: false });
    expect(await dump(cluster.url(beforeFast.db))).toEqual(states.get('bad-deploy'));
  });

  it('fails naming the xid when the journal does not have it, and leaves no database behind', async () => {
    for (const xid of [xids.get('aborted')!, '4000000']) {
      const { db, error } = await restoreTo({ xid, inclusive: true });
      expect(isTidemarkError(error, 'TARGET_AFTER_WINDOW'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(
        new RegExp(`^transaction ${xid} does not commit in the journal`),
      );
      expect((error as Error).message).toContain(
        `database ${db}, which the restore had created, was dropped`,
      );
      expect(await databaseExists(db)).toBe(false);
    }
  });
});
