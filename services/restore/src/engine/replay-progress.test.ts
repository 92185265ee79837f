import { isTidemarkError, type TransactionRecord } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import type { JournalEntry } from './journal-reader.js';
import { abortable, observeEntries, ReplayProgress, stopAtTransaction } from './replay-progress.js';

const entry = (xid: number, commitLsn: bigint, segmentKey = 's1', offset = 0): JournalEntry => ({
  record: {
    source: 'app',
    xid,
    commitLsn,
    endLsn: commitLsn + 1n,
    commitTime: commitLsn * 10n,
    relations: [],
    changes: [],
  } satisfies TransactionRecord,
  segmentKey,
  offset,
});

async function* from<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const i of items) yield i;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const WHERE = { source: 'app', snapshotLsn: 0x10n, latestLsn: 0x90n };

describe('stopAtTransaction', () => {
  const entries = [entry(100, 0x20n), entry(101, 0x30n), entry(102, 0x40n), entry(103, 0x50n)];

  it('stops right after the transaction when inclusive, right before it when not', async () => {
    const found: number[] = [];
    const inclusive = await collect(
      stopAtTransaction(from(entries), { xid: 102, inclusive: true }, WHERE, (_e, n) => found.push(n)),
    );
    expect(inclusive.map((e) => e.record.xid)).toEqual([100, 101, 102]);
    const exclusive = await collect(
      stopAtTransaction(from(entries), { xid: 102, inclusive: false }, WHERE, (_e, n) => found.push(n)),
    );
    expect(exclusive.map((e) => e.record.xid)).toEqual([100, 101]);
    expect(found).toEqual([3, 2]);
    const first = await collect(stopAtTransaction(from(entries), { xid: 100, inclusive: false }, WHERE));
    expect(first).toEqual([]);
  });

  it('fails naming the xid when the journal ends without it', async () => {
    const err = await collect(stopAtTransaction(from(entries), { xid: 999, inclusive: true }, WHERE)).catch(
      (e: unknown) => e,
    );
    expect(isTidemarkError(err, 'TARGET_AFTER_WINDOW')).toBe(true);
    expect((err as Error).message).toMatch(/^transaction 999 does not commit in the journal of source app/);
    expect((err as Error).message).toContain('LSN 0/10');
    expect((err as { details: object }).details).toMatchObject({ xid: 999, latestLsn: '0/90' });
  });
});

describe('ReplayProgress', () => {
  // three segments of 1000 bytes; records at 0x20.. (0x10 is the snapshot)
  const plan = {
    segmentKeys: ['s1', 's2', 's3'],
    segmentSizes: [1000, 1000, 1000],
    snapshotLsn: 0x10n,
    stopRule: { kind: 'lsn', lsn: 0x45n } as const,
    transactionStop: null,
  };
  const index = (...lsns: bigint[]) => ({
    bytes: 1000,
    index: lsns.map((commitLsn) => ({ commitLsn, commitTime: 0n })),
  });

  it('extrapolates the transactions from what was read, then counts them exactly up to the stop', () => {
    const p = new ReplayProgress(plan, 500);
    expect(p.totals()).toEqual({ bytesTotal: 3500, transactionsTotalExact: false });
    // the snapshot's own commit (0x10) is not replayed
    p.segmentVerified('s1', index(0x10n, 0x20n, 0x30n));
    expect(p.totals()).toEqual({ bytesTotal: 3500, transactionsTotal: 6, transactionsTotalExact: false });
    p.segmentVerified('s2', index(0x40n, 0x50n, 0x60n));
    // the stop is in s2: s3 drops out of the total
    expect(p.totals()).toEqual({ bytesTotal: 2500, transactionsTotal: 3, transactionsTotalExact: true });
  });

  it('is exact once every segment was read', () => {
    const p = new ReplayProgress({ ...plan, stopRule: { kind: 'lsn', lsn: 0x1000n } }, 0);
    for (const k of plan.segmentKeys) p.segmentVerified(k, index(0x20n));
    expect(p.totals()).toEqual({ bytesTotal: 3000, transactionsTotal: 3, transactionsTotalExact: true });
  });

  it('for an xid target, is exact only once the transaction was found', () => {
    const p = new ReplayProgress({ ...plan, transactionStop: { xid: 5, inclusive: true } }, 0);
    for (const k of plan.segmentKeys) p.segmentVerified(k, index(0x20n, 0x30n));
    expect(p.totals().transactionsTotalExact).toBe(false);
    p.transactionFound(2);
    expect(p.totals()).toMatchObject({ transactionsTotal: 2, transactionsTotalExact: true });
  });

  it('counts bytes done by where the last committed record sits', () => {
    const p = new ReplayProgress(plan, 500);
    expect(p.bytesDoneAt(undefined)).toBe(500);
    p.entry(entry(1, 0x20n, 's1', 16));
    p.entry(entry(2, 0x30n, 's1', 400));
    p.entry(entry(3, 0x40n, 's2', 16));
    expect(p.bytesDoneAt(0x30n)).toBe(500 + 400);
    expect(p.bytesDoneAt(0x40n)).toBe(500 + 1000 + 16);
    // nothing new committed: the same answer
    expect(p.bytesDoneAt(0x40n)).toBe(500 + 1000 + 16);
  });
});

describe('observeEntries and abortable', () => {
  it('hands each entry on as it passes', async () => {
    const seen: number[] = [];
    const out = await collect(
      observeEntries(from([entry(1, 1n), entry(2, 2n)]), (e) => seen.push(e.record.xid)),
    );
    expect(out).toHaveLength(2);
    expect(seen).toEqual([1, 2]);
  });

  it('ends with the abort reason while the next entry is still on its way', async () => {
    const abort = new AbortController();
    let release = (): void => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    async function* slow(): AsyncGenerator<number> {
      yield 1;
      await gate;
      yield 2;
    }
    const it = abortable(slow(), abort.signal)[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ done: false, value: 1 });
    const pending = it.next();
    abort.abort(new Error('stop now'));
    await expect(pending).rejects.toThrow('stop now');
    release();
  });

  it('passes everything through when nothing aborts', async () => {
    const out = await collect(abortable(from([1, 2, 3]), new AbortController().signal));
    expect(out).toEqual([1, 2, 3]);
  });
});
