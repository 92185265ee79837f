/** A record handed to the journal, and the offsets of the messages that carried it. */
export interface ProgressEntry {
  readonly firstOffset: bigint;
  readonly lastOffset: bigint;
  state: 'pending' | 'durable' | 'failed';
}

/**
 * Which offset of one partition may be committed (pure). Kafka's committed offset is where a
 * restarted consumer resumes, so it may only pass messages whose records are durable in the
 * store, or that carry nothing to archive (dropped fragments, redeliveries).
 *
 * The committable offset is the smallest of: the first offset of any record not yet durable,
 * the first offset of a record still being reassembled, and the offset after the last message
 * delivered. Entries are kept in delivery order; durable ones at the head are let go.
 */
export class PartitionProgress {
  private readonly entries: ProgressEntry[] = [];
  private head = 0;
  private nextOffset: bigint | undefined;

  /** Every delivered message, whatever became of it. */
  delivered(offset: bigint): void {
    if (this.nextOffset === undefined || offset + 1n > this.nextOffset) this.nextOffset = offset + 1n;
  }

  /** A record handed to the journal; settle the returned entry with `durable`/`failed`. */
  add(firstOffset: bigint, lastOffset: bigint): ProgressEntry {
    const entry: ProgressEntry = { firstOffset, lastOffset, state: 'pending' };
    this.entries.push(entry);
    this.delivered(lastOffset);
    return entry;
  }

  /** The offset to commit (all before it is durable or has nothing to archive), if any message was delivered. */
  committable(oldestOpenOffset: bigint | undefined): bigint | undefined {
    while (this.head < this.entries.length && this.entries[this.head]!.state === 'durable') this.head++;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
    let low = this.nextOffset;
    if (low === undefined) return undefined;
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.state !== 'durable' && e.firstOffset < low) low = e.firstOffset;
    }
    if (oldestOpenOffset !== undefined && oldestOpenOffset < low) low = oldestOpenOffset;
    return low;
  }

  /** records handed to the journal and not durable yet */
  get pending(): number {
    let n = 0;
    for (let i = this.head; i < this.entries.length; i++) if (this.entries[i]!.state === 'pending') n++;
    return n;
  }

  get hasFailed(): boolean {
    for (let i = this.head; i < this.entries.length; i++)
      if (this.entries[i]!.state === 'failed') return true;
    return false;
  }
}
