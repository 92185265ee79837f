import type { Lsn, MicrosSinceEpoch, SegmentRecordInput } from '@tidemark/shared';
import { SegmentLifecycle } from './segment-lifecycle.js';

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Records gathered for the next segment, and the writers waiting for them to be durable. */
export class OpenSegment {
  readonly lifecycle = new SegmentLifecycle();
  readonly records: SegmentRecordInput[] = [];
  private readonly waiters: Waiter[] = [];
  bytes = 0;
  /** set when an earlier segment failed: this one must not land after the hole */
  doomedBy: unknown;
  readonly openedAt: number;
  /** settles with the segment: lets a redelivered duplicate wait for the original's fate */
  readonly durable: Promise<void>;
  private settle!: Waiter;

  constructor(now: number) {
    this.openedAt = now;
    this.durable = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // Nobody may be waiting on `durable`; a failure is reported through the writers.
    this.durable.catch(() => {});
  }

  add(payload: Uint8Array, commitLsn: Lsn, commitTime: MicrosSinceEpoch): Promise<void> {
    if (this.lifecycle.state !== 'open') throw new Error(`cannot add to a ${this.lifecycle.state} segment`);
    this.records.push({ payload, commitLsn, commitTime });
    this.bytes += payload.byteLength + 12;
    return new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  get lastLsn(): Lsn | undefined {
    return this.records.at(-1)?.commitLsn;
  }

  get isEmpty(): boolean {
    return this.records.length === 0;
  }

  markDurable(): void {
    this.lifecycle.to('durable');
    this.settle.resolve();
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  markFailed(err: unknown): void {
    this.lifecycle.to('failed');
    this.settle.reject(err);
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}
