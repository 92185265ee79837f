/**
 * A segment's life: `open` (accepting records) → `sealed` (encoded, immutable, being
 * uploaded) → `durable` (in the store and named by the tip). Only `durable` releases the
 * writers waiting on its records, so an LSN is confirmed upstream only once it cannot be
 * lost. `failed` ends a segment whose upload gave up: its records are released with an
 * error and the upstream replays them from its own durable position.
 */
export type SegmentState = 'open' | 'sealed' | 'durable' | 'failed';

const ALLOWED: Readonly<Record<SegmentState, readonly SegmentState[]>> = {
  open: ['sealed'],
  sealed: ['durable', 'failed'],
  durable: [],
  failed: [],
};

export class SegmentLifecycle {
  private current: SegmentState = 'open';

  get state(): SegmentState {
    return this.current;
  }

  to(next: SegmentState): void {
    if (!ALLOWED[this.current].includes(next)) {
      throw new Error(`segment state machine: illegal transition ${this.current} → ${next}`);
    }
    this.current = next;
  }
}
