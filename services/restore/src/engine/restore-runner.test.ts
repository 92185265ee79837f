import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initChecksums, isTidemarkError, LocalKeyProvider, TidemarkError } from '@tidemark/shared';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import type { ExecuteRestoreInput, RestoreExecutor, RestoreOutcome } from './restore-executor.js';
import type { RestoreJobView, RestoreRequest } from './restore-job.js';
import type { RestorePlan } from './restore-planner.js';
import { RestoreRunner, type RestoreRunnerOptions } from './restore-runner.js';
import { relationOf, TxBuilder, writeSegments, writeSnapshot } from './testing/journal-fixture.js';
import { MemoryObjectStore } from './testing/memory-object-store.js';

const T0 = 1_714_557_600_000_000n;
const URL_A = 'postgresql://me:s3cret@db.example:5432/restored_a';
const URL_B = 'postgresql://me:s3cret@db.example:5432/restored_b';
const URL_C = 'postgresql://me:s3cret@db.example:5432/restored_c';
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

beforeAll(async () => {
  await initChecksums();
});

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

  it('keeps jobs across a restart, resumes the running one and requeues the queued one', async () => {
    const r1 = runner();
    const a = await r1.submit({ source: 'app', target: { latest: true }, into: { url: URL_A } });
    await until(() => r1.get(a.id).state === 'running');
    fake.finish(a.id);
    await until(() => r1.get(a.id).state === 'succeeded');
    const b = await r1.submit({ source: 'app', target: { latest: true }, into: { url: URL_B } });
    await until(() => r1.get(b.id).state === 'running');
    const c = await r1.submit({ source: 'app', target: { latest: true }, into: { url: URL_C } });
    expect(r1.get(c.id).state).toBe('queued');
    // simulate a crash: a fresh runner reads the same directory while b is 'running' on disk
    await new Promise((res) => setTimeout(res, 20));
    const r2 = runner();
    await r2.recovered;
    expect(r2.get(a.id).state).toBe('succeeded');
    await until(() => fake.started.filter((s) => s.id === b.id).length === 2);
    const resumed = fake.started.filter((s) => s.id === b.id)[1]!;
    // the password came back from the secret file: the restore can log in again
    expect(resumed.into.url).toBe(URL_B);
    // b had not reported a prepared target: nothing was written, it starts again
    expect(resumed.resume).toBeUndefined();
    expect(r2.get(b.id)).toMatchObject({ state: 'running', attempts: 2, resumedFrom: 'start' });
    expect(r2.get(c.id)).toMatchObject({ state: 'queued', queuePosition: 1 });
    for (const f of await readdir(dir))
      if (f.endsWith('.json')) expect(await readFile(path.join(dir, f), 'utf8')).not.toContain('s3cret');
    const secret = path.join(dir, 'secrets', `${b.id}.json`);
    expect((await stat(secret)).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(dir, 'secrets'))).mode & 0o777).toBe(0o700);
    fake.finish(b.id);
    await until(() => r2.get(b.id).state === 'succeeded');
    // the secret goes with the job's end; c runs next
    await expect(stat(secret)).rejects.toThrow(/ENOENT/);
    await until(() => r2.get(c.id).state === 'running');
  });

  it('stops with the service without failing: running stays running and queued stays queued', async () => {
    const r1 = runner();
    const b = await r1.submit({ source: 'app', target: { latest: true }, into: { url: URL_B } });
    const c = await r1.submit({ source: 'app', target: { latest: true }, into: { url: URL_C } });
    await until(() => r1.get(b.id).state === 'running');
    await r1.close();
    expect(r1.get(b.id).state).toBe('running');
    expect(r1.get(c.id).state).toBe('queued');
    const r2 = runner();
    await r2.recovered;
    await until(() => fake.started.filter((s) => s.id === b.id).length === 2);
    expect(r2.get(c.id).state).toBe('queued');
  });

  it('encrypts the stored URL with the master key, and fails the job when the key is gone', async () => {
    const keys = LocalKeyProvider.fromText(`k1:${Buffer.alloc(32, 7).toString('base64')}`);
    const other = LocalKeyProvider.fromText(`k2:${Buffer.alloc(32, 9).toString('base64')}`);
    const r1 = runner({ catalog: new JournalCatalog(store, { keys }) });
    const b = await r1.submit({ source: 'app', target: { latest: true }, into: { url: URL_B } });
    await until(() => r1.get(b.id).state === 'running');
    const sealed = await readFile(path.join(dir, 'secrets', `${b.id}.json`), 'utf8');
    expect(sealed).not.toContain('s3cret');
    expect(sealed).not.toContain('db.example');
    const r2 = runner({ catalog: new JournalCatalog(store, { keys }) });
    await r2.recovered;
    await until(() => fake.started.filter((s) => s.id === b.id).length === 2);
    expect(fake.started.filter((s) => s.id === b.id)[1]!.into.url).toBe(URL_B);
    const r3 = runner({ catalog: new JournalCatalog(store, { keys: other }) });
    await r3.recovered;
    expect(r3.get(b.id).state).toBe('failed');
    expect(r3.get(b.id).error?.message).toMatch(/master key is no longer configured/);
  });
});

describe('RestoreRunner restart of table restores', () => {
  it('resumes a running table restore; one whose checkpoint does not name its schema fails, saying what to drop', async () => {
    await writeSnapshot(store, {
      source: 'app',
      lsn: 0x1000n,
      snapshotTime: T0,
      tables: [{ schema: 'public', table: 't', columns: [{ name: 'id', type: 'integer' }] }],
    });
    const r1 = runner({ maxConcurrent: 2 });
    const scoped = (url: string): RestoreRequest => ({
      source: 'app',
      target: { latest: true },
      tables: ['public.t'],
      into: { url, schema: 'copy' },
    });
    const a = await r1.submit(scoped(URL_A));
    const b = await r1.submit(scoped(URL_B));
    await until(() => r1.get(a.id).state === 'running' && r1.get(b.id).state === 'running');
    // b's target was prepared by a version whose checkpoint did not keep the schema
    const plan = { stopRule: { kind: 'time', micros: T0 } } as unknown as RestorePlan;
    await fake.started.find((s) => s.id === b.id)!.onPrepared!({ created: false, existingSchemas: [] }, plan);
    await new Promise((res) => setTimeout(res, 20));
    const r2 = runner({ maxConcurrent: 2 });
    await r2.recovered;
    await until(() => fake.started.filter((s) => s.id === a.id).length === 2);
    const resumed = fake.started.filter((s) => s.id === a.id)[1]!;
    expect(resumed.scope).toEqual({ tables: [{ schema: 'public', table: 't' }], schema: 'copy' });
    expect(resumed.resume).toBeUndefined();
    expect(r2.get(a.id)).toMatchObject({ state: 'running', attempts: 2, resumedFrom: 'start' });
    expect(r2.get(b.id).state).toBe('failed');
    expect(r2.get(b.id).error?.message).toMatch(
      /does not name its schema.*drop what it restored in schema copy/,
    );
  });
});

describe('RestoreRunner queue', () => {
  it('runs at most maxConcurrent at once; the others wait with their queue position', async () => {
    const r = runner({ maxConcurrent: 2 });
    const urls = ['a', 'b', 'c', 'd'].map((d) => `postgresql://me:s3cret@db.example:5432/q_${d}`);
    const jobs = [];
    for (const url of urls)
      jobs.push(await r.submit({ source: 'app', target: { latest: true }, into: { url } }));
    const [a, b, c, d] = jobs.map((j) => j.id) as [string, string, string, string];
    await until(() => fake.started.length === 2);
    expect(fake.started.map((s) => s.id)).toEqual([a, b]);
    expect(r.get(c)).toMatchObject({ state: 'queued', queuePosition: 1 });
    expect(r.get(d)).toMatchObject({ state: 'queued', queuePosition: 2 });
    expect(r.get(a).queuePosition).toBeUndefined();
    expect(r.list().find((j) => j.id === d)?.queuePosition).toBe(2);
    fake.finish(a);
    await until(() => r.get(c).state === 'running');
    expect(r.get(d)).toMatchObject({ state: 'queued', queuePosition: 1 });
    expect(r.get(c).queuePosition).toBeUndefined();
    // cancelling a queued job moves the ones behind it up, and it never runs
    const e = await r.submit({
      source: 'app',
      target: { latest: true },
      into: { url: 'postgresql://me:s3cret@db.example:5432/q_e' },
    });
    expect(r.get(e.id).queuePosition).toBe(2);
    expect((await r.cancel(d)).state).toBe('cancelled');
    expect(r.get(e.id).queuePosition).toBe(1);
    fake.finish(b);
    fake.finish(c);
    await until(() => r.get(e.id).state === 'running');
    expect(fake.started.map((s) => s.id)).toEqual([a, b, c, e.id]);
  });

  it('tells watchers about every change, the queue position included, until they stop watching', async () => {
    const r = runner();
    const a = await r.submit({ source: 'app', target: { latest: true }, into: { url: URL_A } });
    const b = await r.submit({ source: 'app', target: { latest: true }, into: { url: URL_B } });
    const c = await r.submit({
      source: 'app',
      target: { latest: true },
      into: { url: 'postgresql://me:s3cret@db.example:5432/restored_c' },
    });
    const seenA: RestoreJobView[] = [];
    const seenB: RestoreJobView[] = [];
    const seenC: RestoreJobView[] = [];
    const stopA = r.watch(a.id, (j) => seenA.push(j));
    r.watch(b.id, (j) => seenB.push(j));
    r.watch(c.id, (j) => seenC.push(j));
    await until(() => fake.started.length === 1);
    fake.started[0]!.onProgress({ phase: 'replaying', transactionsApplied: 7 });
    fake.finish(a.id);
    await until(() => seenB.some((j) => j.state === 'running'));
    expect(seenA.at(-1)).toMatchObject({ state: 'succeeded', progress: { phase: 'done' } });
    expect(seenA.some((j) => j.progress.transactionsApplied === 7)).toBe(true);
    const count = seenA.length;
    stopA();
    // c moved up from 2 to 1 when b started
    expect(seenC.at(-1)).toMatchObject({ state: 'queued', queuePosition: 1 });
    await r.cancel(b.id);
    expect(seenA).toHaveLength(count);
    expect(() => r.watch('r_nope', () => {})).toThrow(/no restore/);
  });

  it('shows the observed rate and the time left while running', async () => {
    const r = runner();
    const a = await r.submit({ source: 'app', target: { latest: true }, into: { url: URL_A } });
    await until(() => fake.started.length === 1);
    await new Promise((res) => setTimeout(res, 20));
    fake.started[0]!.onProgress({ phase: 'replaying', bytesDone: 1000, bytesTotal: 4000 });
    const view = r.get(a.id).progress;
    expect(view.bytesPerSecond).toBeGreaterThan(0);
    // 3000 bytes left at the rate that did 1000
    expect(view.etaSeconds).toBeGreaterThanOrEqual(Math.floor((3000 / view.bytesPerSecond!) * 0.9));
    fake.finish(a.id);
    await until(() => r.get(a.id).state === 'succeeded');
    expect(r.get(a.id).progress).toMatchObject({ bytesDone: 4000, bytesTotal: 4000 });
    expect(r.get(a.id).progress.etaSeconds).toBeUndefined();
  });
});

describe('RestoreRunner cancel', () => {
  it('answers the view of a restore still stopping after cancelWaitMs, then it ends cancelled', async () => {
    let stop = (): void => {};
    const slow: RestoreExecutor = (input) =>
      new Promise((_, reject) => {
        input.signal.addEventListener('abort', () => {
          stop = () => reject(input.signal.reason);
        });
      });
    const r = runner({ execute: slow, cancelWaitMs: 30 });
    const a = await r.submit({ source: 'app', target: { latest: true }, into: { url: URL_A } });
    await until(() => r.get(a.id).state === 'running');
    const view = await r.cancel(a.id);
    expect(view).toMatchObject({ state: 'running', progress: { phase: 'cancelling' } });
    // a second cancel while it stops is fine
    expect((await r.cancel(a.id)).state).toBe('running');
    stop();
    await until(() => r.get(a.id).state === 'cancelled');
    expect(r.get(a.id).error).toMatchObject({ code: 'CANCELLED' });
  });

  it('keeps the message of the executor, which says what it cleaned up', async () => {
    const cleaning: RestoreExecutor = (input) =>
      new Promise((_, reject) => {
        input.signal.addEventListener('abort', () => {
          const reason = input.signal.reason as TidemarkError;
          reject(new TidemarkError('CANCELLED', `${reason.message}; database x was dropped`));
        });
      });
    const r = runner({ execute: cleaning });
    const a = await r.submit({ source: 'app', target: { latest: true }, into: { url: URL_A } });
    await until(() => r.get(a.id).state === 'running');
    const done = await r.cancel(a.id);
    expect(done.state).toBe('cancelled');
    expect(done.error?.message).toBe(`restore ${a.id} was cancelled; database x was dropped`);
  });
});

describe('RestoreRunner idempotency keys', () => {
  const req = (over: Partial<RestoreRequest> = {}): RestoreRequest => ({
    source: 'app',
    target: { time: '2024-05-01T10:00:00Z' },
    into: { url: URL_A },
    ...over,
  });

  it('answers the same restore for the same key and request, CONFLICT for another request', async () => {
    const r = runner();
    const first = await r.submitIdempotent(req(), 'key-1');
    expect(first.replayed).toBe(false);
    expect(first.job.idempotencyKey).toBe('key-1');
    const again = await r.submitIdempotent(req(), 'key-1');
    expect(again).toMatchObject({ replayed: true, job: { id: first.job.id } });
    // the same instant written another way, and another password, are the same request
    const same = await r.submitIdempotent(
      req({
        target: { time: '2024-05-01T12:00:00+02:00' },
        into: { url: 'postgresql://me:other@db.example:5432/restored_a' },
      }),
      'key-1',
    );
    expect(same.job.id).toBe(first.job.id);
    expect(await codeOf(r.submitIdempotent(req({ target: { latest: true } }), 'key-1'))).toBe('CONFLICT');
    expect(await codeOf(r.submitIdempotent(req({ into: { url: URL_B } }), 'key-1'))).toBe('CONFLICT');
    expect(r.list()).toHaveLength(1);
    // another key is another restore (which conflicts on the database while the first runs)
    expect(await codeOf(r.submitIdempotent(req(), 'key-2'))).toBe('CONFLICT');
    expect((await r.submitIdempotent(req({ into: { url: URL_B } }), 'key-2')).replayed).toBe(false);
  });

  it('refuses a malformed key, and a request that fails does not use up its key', async () => {
    const r = runner();
    expect(await codeOf(r.submitIdempotent(req(), 'has space'))).toBe('BAD_REQUEST');
    expect(await codeOf(r.submitIdempotent(req(), ''))).toBe('BAD_REQUEST');
    expect(await codeOf(r.submitIdempotent(req(), 'k'.repeat(256)))).toBe('BAD_REQUEST');
    expect(await codeOf(r.submitIdempotent(req({ source: 'nope' }), 'key-3'))).toBe('UNKNOWN_SOURCE');
    expect((await r.submitIdempotent(req(), 'key-3')).replayed).toBe(false);
  });

  it('creates one restore for concurrent requests with the same key', async () => {
    const r = runner();
    const results = await Promise.all([1, 2, 3].map(() => r.submitIdempotent(req(), 'key-4')));
    expect(new Set(results.map((x) => x.job.id)).size).toBe(1);
    expect(results.filter((x) => !x.replayed)).toHaveLength(1);
    expect(r.list()).toHaveLength(1);
  });

  it('keeps keys across a restart, without the password', async () => {
    const r1 = runner();
    const first = await r1.submitIdempotent(req(), 'key-5');
    await until(() => r1.get(first.job.id).state === 'running');
    fake.finish(first.job.id);
    await until(() => r1.get(first.job.id).state === 'succeeded');
    await r1.close();
    const r2 = runner();
    const again = await r2.submitIdempotent(req(), 'key-5');
    expect(again).toMatchObject({ replayed: true, job: { id: first.job.id, state: 'succeeded' } });
    expect(await codeOf(r2.submitIdempotent(req({ target: { latest: true } }), 'key-5'))).toBe('CONFLICT');
    const file = await readFile(path.join(dir, `${first.job.id}.json`), 'utf8');
    expect(JSON.parse(file)).toMatchObject({ idempotencyKey: 'key-5', requestSha256: expect.any(String) });
    expect(file).not.toContain('s3cret');
    expect(r2.get(first.job.id)).not.toHaveProperty('requestSha256');
  });
});

describe('RestoreRunner.plan (dry run)', () => {
  it('answers the plan and creates nothing', async () => {
    const mem = new MemoryObjectStore();
    const snap = await writeSnapshot(mem, {
      source: 'app',
      lsn: 0x1000n,
      snapshotTime: T0,
      tables: [
        {
          schema: 'public',
          table: 't',
          columns: [{ name: 'id', type: 'integer' }],
          data: [['1'], ['2']],
        },
      ],
    });
    const b = new TxBuilder('app', 0x1000n, T0);
    const rel = relationOf(1, 'public', 't', [['id', true]]);
    const txs = [1, 2, 3, 4].map((i) =>
      b.tx([rel], [{ op: 'insert', rel: 0, new: { values: [String(i)] } }]),
    );
    const segs = await writeSegments(mem, {
      source: 'app',
      snapshotLsn: 0x1000n,
      prevSha256: snap.sha256,
      groups: [txs.slice(0, 2), txs.slice(2)],
    });
    const r = runner({ store: mem, catalog: new JournalCatalog(mem), estimateBytesPerSecond: 100 });
    const plan = await r.plan({ source: 'app', target: { latest: true }, into: { url: URL_A } });
    const segmentBytes = segs.reduce((n, s) => n + s.bytes.byteLength, 0);
    expect(plan).toMatchObject({
      dryRun: true,
      source: 'app',
      target: { latest: true },
      into: { url: 'postgresql://me:***@db.example:5432/restored_a', database: 'restored_a' },
      snapshotLsn: '0/1000',
      snapshotTables: 1,
      snapshotBytes: 4,
      segments: 2,
      segmentBytes,
      firstSegment: segs[0]!.key,
      lastSegment: segs[1]!.key,
      totalBytes: 4 + segmentBytes,
      stopRule: { lsn: '0/1400' },
      estimatedSeconds: Math.ceil((4 + segmentBytes) / 100),
      bytesPerSecond: 100,
    });
    const xid = await r.plan({
      source: 'app',
      target: { xid: 1002, inclusive: false },
      into: { url: URL_A },
    });
    expect(xid).toMatchObject({ transaction: { xid: 1002, inclusive: false }, segments: 2 });
    expect(xid.notes[0]).toMatch(/transaction 1002 is looked for while replaying/);
    expect(r.list()).toEqual([]);
    expect(fake.started).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
    expect(
      await codeOf(r.plan({ source: 'app', target: { restorePoint: 'none' }, into: { url: URL_A } })),
    ).toBe('TARGET_AFTER_WINDOW');
  });

  it('refuses an unknown restore point at submit, and takes an xid (found while replaying)', async () => {
    const r = runner();
    expect(
      await codeOf(r.submit({ source: 'app', target: { restorePoint: 'nope' }, into: { url: URL_A } })),
    ).toBe('TARGET_AFTER_WINDOW');
    const job = await r.submit({
      source: 'app',
      target: { xid: '77', inclusive: false },
      into: { url: URL_A },
    });
    expect(job.target).toEqual({ xid: 77, inclusive: false });
    await until(() => fake.started.length === 1);
    expect(fake.started[0]?.target).toEqual({ kind: 'xid', xid: 77, inclusive: false });
  });
});
