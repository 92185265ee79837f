import { formatLsn, type Lsn, TidemarkError } from '@tidemark/shared';
import type { JournalEntry, VerifiedSegment } from './journal-reader.js';
import type { RestorePlan } from './restore-planner.js';
import { isPastTarget } from './restore-target.js';

/**
 * How far a replay got, in bytes and transactions, against what the plan says it will
 * read. Pure bookkeeping, fed by the reader (segments verified), the stream of entries
 * (where each record sits) and the applier (what was committed).
 *
 * - Bytes: the snapshot's table data plus the planned segments' sizes. Once the segment
 *   holding the stop is known, the segments after it drop out of the total.
 * - Transactions: counted from each verified segment's index (records after the snapshot,
 *   up to the stop rule); exact once the stop is found or every segment was read, an
 *   extrapolation by bytes before that. For an xid target the stop is only known when the
 *   transaction shows up (`transactionFound`).
 */
export interface ReplayTotals {
  readonly bytesTotal: number;
  readonly transactionsTotal?: number;
  readonly transactionsTotalExact: boolean;
}

type PlanPart = Pick<
  RestorePlan,
  'segmentKeys' | 'segmentSizes' | 'snapshotLsn' | 'stopRule' | 'transactionStop'
>;

export class ReplayProgress {
  private readonly indexOf = new Map<string, number>();
  /** bytes of the segments before segment i */
  private readonly before: number[] = [];
  private readonly segmentBytes: number;
  private verifiedSegments = 0;
  private verifiedBytes = 0;
  private counted = 0;
  /** segment index holding the first record past the stop rule */
  private stopSegment: number | undefined;
  private foundTransactions: number | undefined;
  /** where each entry handed to the applier (and not yet committed) starts, by commit LSN */
  private readonly positions = new Map<Lsn, number>();
  private lastBytes: number;

  constructor(
    private readonly plan: PlanPart,
    private readonly snapshotBytes: number,
  ) {
    this.lastBytes = snapshotBytes;
    let sum = 0;
    plan.segmentKeys.forEach((key, i) => {
      this.indexOf.set(key, i);
      this.before.push(sum);
      sum += plan.segmentSizes[i] ?? 0;
    });
    this.segmentBytes = sum;
  }

  /** A segment passed verification: count the records the replay will apply from it. */
  segmentVerified(key: string, segment: VerifiedSegment): void {
    const i = this.indexOf.get(key);
    if (i === undefined || this.stopSegment !== undefined) return;
    this.verifiedSegments++;
    // a store that did not list the size: the bytes read stand in
    this.verifiedBytes += this.plan.segmentSizes[i] || segment.bytes;
    for (const r of segment.index) {
      if (r.commitLsn <= this.plan.snapshotLsn) continue;
      if (isPastTarget(this.plan.stopRule, r)) {
        this.stopSegment = i;
        return;
      }
      this.counted++;
    }
  }

  /** The entry is about to be applied. */
  entry(entry: JournalEntry): void {
    const i = this.indexOf.get(entry.segmentKey);
    if (i === undefined) return;
    this.positions.set(entry.record.commitLsn, (this.before[i] ?? 0) + entry.offset);
  }

  /** An xid target's transaction showed up: `applied` transactions is the whole replay. */
  transactionFound(applied: number): void {
    this.foundTransactions = applied;
  }

  /** Bytes done once everything up to `lastCommitLsn` is committed. */
  bytesDoneAt(lastCommitLsn: Lsn | undefined): number {
    if (lastCommitLsn === undefined) return this.snapshotBytes;
    let at: number | undefined;
    for (const [lsn, pos] of this.positions) {
      if (lsn > lastCommitLsn) break;
      at = pos;
      this.positions.delete(lsn);
    }
    if (at !== undefined) this.lastBytes = this.snapshotBytes + at;
    return this.lastBytes;
  }

  totals(): ReplayTotals {
    const bytesTotal =
      this.snapshotBytes +
      (this.stopSegment === undefined
        ? this.segmentBytes
        : (this.before[this.stopSegment] ?? 0) + (this.plan.segmentSizes[this.stopSegment] ?? 0));
    if (this.foundTransactions !== undefined)
      return { bytesTotal, transactionsTotal: this.foundTransactions, transactionsTotalExact: true };
    const allRead = this.verifiedSegments === this.plan.segmentKeys.length;
    const exact = (this.stopSegment !== undefined || allRead) && this.plan.transactionStop === null;
    if (exact || allRead)
      return { bytesTotal, transactionsTotal: this.counted, transactionsTotalExact: exact };
    if (this.verifiedBytes <= 0) return { bytesTotal, transactionsTotalExact: false };
    const rest = this.segmentBytes - this.verifiedBytes;
    const estimate = this.counted + Math.round((rest * this.counted) / this.verifiedBytes);
    return { bytesTotal, transactionsTotal: estimate, transactionsTotalExact: false };
  }
}

/**
 * The entries up to the transaction `stop.xid`: with it when inclusive, without it when
 * not. When the journal ends without it, TARGET_AFTER_WINDOW naming the xid: nothing in
 * the journal says where to stop, and restoring everything instead would be a state the
 * caller did not ask for.
 */
export async function* stopAtTransaction(
  entries: AsyncIterable<JournalEntry>,
  stop: { readonly xid: number; readonly inclusive: boolean },
  where: { readonly source: string; readonly snapshotLsn: Lsn; readonly latestLsn: Lsn },
  onFound?: (entry: JournalEntry, applied: number) => void,
): AsyncGenerator<JournalEntry> {
  let passed = 0;
  for await (const entry of entries) {
    if (entry.record.xid === stop.xid) {
      onFound?.(entry, stop.inclusive ? passed + 1 : passed);
      if (stop.inclusive) yield entry;
      return;
    }
    passed++;
    yield entry;
  }
  throw new TidemarkError(
    'TARGET_AFTER_WINDOW',
    `transaction ${stop.xid} does not commit in the journal of source ${where.source} between the base snapshot ` +
      `(LSN ${formatLsn(where.snapshotLsn)}) and the newest archived commit (LSN ${formatLsn(where.latestLsn)}): ` +
      'it may not be committed or archived yet, it may have rolled back or touched no published table, or it ' +
      'committed before the snapshot',
    {
      details: {
        source: where.source,
        xid: stop.xid,
        snapshotLsn: formatLsn(where.snapshotLsn),
        latestLsn: formatLsn(where.latestLsn),
      },
    },
  );
}

/** Hands each entry to `seen` as the applier takes it. */
export async function* observeEntries(
  entries: AsyncIterable<JournalEntry>,
  seen: (entry: JournalEntry) => void,
): AsyncGenerator<JournalEntry> {
  for await (const entry of entries) {
    seen(entry);
    yield entry;
  }
}

/**
 * The entries, ending with the abort reason as soon as `signal` aborts, even while the
 * next entry is still on its way (a segment being fetched from a slow store): a cancel
 * must not wait for it.
 */
export async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      signal.throwIfAborted();
      // a fresh abort promise per entry: racing every entry against one long-lived pending
      // promise would keep each race's result (the entry) reachable from that promise until
      // the restore ends (a 1 GiB replay ran out of heap that way)
      let onAbort = (): void => {};
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
      });
      signal.addEventListener('abort', onAbort, { once: true });
      let next: IteratorResult<T>;
      try {
        next = await Promise.race([it.next(), aborted]);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    // not awaited: after an abort the source may still be waiting for its next entry
    if (!finished) it.return?.().catch(() => {});
  }
}
