import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isTidemarkError, TidemarkError } from '@tidemark/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import type { ExecuteRestoreInput, RestoreExecutor, RestoreOutcome } from './restore-executor.js';
import type { RestoreJobView } from './restore-job.js';
import { RestoreRunner, type RestoreRunnerOptions } from './restore-runner.js';
import { writeSnapshot } from './testing/journal-fixture.js';
import { MemoryObjectStore } from './testing/memory-object-store.js';

const T0 = 1_714_557_600_000_000n;
const URL_A = 'postgresql://me:s3cret@db.example:5432/restored_a';
const URL_B = 'postgresql://me:s3cret@db.example:5432/restored_b';
const OUTCOME: RestoreOutcome = {
  restoredLsn: '0/1000',
  restoredTime: '2024-05-01T10:00:00.000000Z',
  transactions: 0,
  changes: 0,
  warnings: [],
};

/** An executor each test drives by hand. */
class FakeExecutor {
  readonly started: ExecuteRestoreInput[] = [];
  private waiters = new Map<string, { resolve: (o: RestoreOutcome) => void; reject: (e: unknown) => void }>();
  readonly execute: RestoreExecutor = (input) =>
    new Promise<RestoreOutcome>((resolve, reject) => {
      this.started.push(input);
      this.waiters.set(input.id, { resolve, reject });
      input.signal.addEventListener('abort', () => reject(input.signal.reason));
      input.onProgress({ phase: 'loading-snapshot', tablesTotal: 3 });
    });
  finish(id: string, err?: unknown): void {
    const w = this.waiters.get(id);
    if (!w) throw new Error(`job ${id} did not start`);
    if (err) w.reject(err);
    else w.resolve(OUTCOME);
  }
}

let dir: string;
let store: MemoryObjectStore;
let fake: FakeExecutor;
const runners: RestoreRunner[] = [];

function runner(over: Partial<RestoreRunnerOptions> = {}): RestoreRunner {
  const r = new RestoreRunner({
    store,
    catalog: new JournalCatalog(store),
    stateDir: dir,
    maxConcurrent: 1,
    logger: silentLogger,
    execute: fake.execute,
    ...over,
  });
  runners.push(r);
  return r;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isTidemarkError(err) ? err.code : String(err);
  }
  return undefined;
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-runner-'));
  store = new MemoryObjectStore();
  fake = new FakeExecutor();
  await writeSnapshot(store, { source: 'app', lsn: 0x1000n, snapshotTime: T0, tables: [] });
});

afterEach(async () => {
  for (const r of runners.splice(0)) await r.close();
  await rm(dir, { recursive: true, force: true });
});

describe('RestoreRunner.submit', () => {
  it('rejects bad requests before queueing anything', async () => {
    const r = runner();
    expect(await codeOf(r.submit({ source: 'nope', target: { latest: true }, into: { url: URL_A } }))).toBe(
      'UNKNOWN_SOURCE',
    );
    expect(
      await codeOf(r.submit({ source: 'app', target: { latest: true }, into: { url: 'mysql://x/y' } })),
    ).toBe('BAD_REQUEST');
    expect(await codeOf(r.submit({ source: 'app', target: { time: 'soon' }, into: { url: URL_A } }))).toBe(
      'BAD_REQUEST',
    );
    expect(
      await codeOf(
        r.submit({ source: 'app', target: { time: '2024-05-01T09:59:59Z' }, into: { url: URL_A } }),
      ),
    ).toBe('TARGET_BEFORE_WINDOW');
    expect(
      await codeOf(
        r.submit({ source: 'app', target: { time: '2024-05-01T10:00:01Z' }, into: { url: URL_A } }),
      ),
    ).toBe('TARGET_AFTER_WINDOW');
    expect(r.list()).toEqual([]);
    expect(fake.started).toEqual([]);
  });

  it('refuses a second restore into the same database while one is active', async () => {
    const r = runner();
    await r.submit({ source: 'app', target: { latest: true }, into: { url: URL_A } });
    expect(await codeOf(r.submit({ source: 'app', target: { latest: true }, into: { url: URL_A } }))).toBe(
      'CONFLICT',
    );
  });
});

describe('RestoreRunner lifecycle', () => {
  it('runs queued → running → succeeded, one at a time, and reports progress', async () => {
    const r = runner();
    const a = await r.submit({
      source: 'app',
      target: { time: '2024-05-01T10:00:00Z' },
      into: { url: URL_A },
    });
    const b = await r.submit({ source: 'app', target: { latest: true }, into: { url: URL_B } });
    expect(a.target).toEqual({ time: '2024-05-01T10:00:00.000000Z' });
    expect(a.into).toEqual({ url: 'postgresql://me:***@db.example:5432/restored_a', database: 'restored_a' });
    await until(() => r.get(a.id).state === 'running');
    expect(r.get(a.id).progress).toMatchObject({ phase: 'loading-snapshot', tablesTotal: 3 });
    expect(r.get(b.id).state).toBe('queued');
    fake.finish(a.id);
    await until(() => r.get(b.id).state === 'running');
    const done = r.get(a.id);
    expect(done.state).toBe('succeeded');
    expect(done.progress).toMatchObject({ phase: 'done', restoredLsn: '0/1000' });
    expect(done.startedAt).toBeDefined();
    expect(done.finishedAt).toBeDefined();
    expect(fake.started[0]?.target).toEqual({ kind: 'time', micros: 1_714_557_600_000_000n });
    expect(r.list().map((j) => j.id)).toEqual([b.id, a.id]);
  });

  it('records a failure with its code and details', async () => {
    const r = runner();
    const a = await r.submit({ source: 'app', target: { latest: true }, into: { url: URL_A } });
    await until(() => fake.started.length === 1);
    fake.finish(
      a.id,
      new TidemarkError('SEGMENT_CORRUPT', 'segment x is corrupt', { details: { key: 'x', offset: 7 } }),
    );
    await until(() => r.get(a.id).state === 'failed');
    expect(r.get(a.id).error).toEqual({
      code: 'SEGMENT_CORRUPT',
      message: 'segment x is corrupt',
      details: { key: 'x', offset: 7 },
    });
  });

  it('cancels queued and running jobs, and refuses to cancel finished ones', async () => {
    const r = runner();
    const a = await r.submit({ source: 'app', target: { latest: true }, into: { url: URL_A } });
    const b = await r.submit({ source: 'app', target: { latest: true }, into: { url: URL_B } });
    expect((await r.cancel(b.id)).state).toBe('cancelled');
    await until(() => r.get(a.id).state === 'running');
    const cancelled = await r.cancel(a.id);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.error?.code).toBe('CANCELLED');
    expect(await codeOf(r.cancel(a.id))).toBe('CONFLICT');
    expect(await codeOf(r.cancel('r_nope'))).toBe('UNKNOWN_RESTORE');
    expect(() => r.get('r_nope')).toThrow(/no restore/);
    expect(fake.started.map((s) => s.id)).toEqual([a.id]);
  });

  it('keeps jobs across a restart, fails the interrupted ones, and never writes the password', async () => {
    const r1 = runner();
    const a = await r1.submit({ source: 'app', target: { latest: true }, into: { url: URL_A } });
    await until(() => r1.get(a.id).state === 'running');
    fake.finish(a.id);
    await until(() => r1.get(a.id).state === 'succeeded');
    const b = await r1.submit({ source: 'app', target: { latest: true }, into: { url: URL_B } });
    await until(() => r1.get(b.id).state === 'running');
    // simulate a crash: a fresh runner reads the same directory while b is 'running' on disk
    await new Promise((res) => setTimeout(res, 20));
    const r2 = new RestoreRunner({
      store,
      catalog: new JournalCatalog(store),
      stateDir: dir,
      maxConcurrent: 1,
      logger: silentLogger,
      execute: fake.execute,
    });
    expect(r2.get(a.id).state).toBe('succeeded');
    const interrupted: RestoreJobView = r2.get(b.id);
    expect(interrupted.state).toBe('failed');
    expect(interrupted.error?.message).toMatch(/stopped while this restore was running/);
    await r2.close();
    for (const f of await readdir(dir))
      expect(await readFile(path.join(dir, f), 'utf8')).not.toContain('s3cret');
  });
});
