import type { Lsn, MicrosSinceEpoch } from '@tidemark/shared';

/**
 * The order in which LSNs may be confirmed to the server. Transactions are handed to the sink
 * without waiting, so their writes become durable in any order; the server may only hear of a
 * transaction's end LSN once it and every transaction before it are durable, or a crash would
 * skip the earlier one. Pure bookkeeping; the capture service wires the sink's promises to it.
 */
export interface QueueTicket {
  readonly commitLsn: Lsn;
  readonly endLsn: Lsn;
  readonly commitTime: MicrosSinceEpoch;
  durable: boolean;
}

export class ConfirmationQueue {
  private entries: QueueTicket[] = [];
  /** index of the oldest unconfirmed ticket; the array is compacted now and then, not per confirm */
  private head = 0;

  /** in stream order; `durable` is true from the start for transactions nothing needs to be written for */
  push(commitLsn: Lsn, endLsn: Lsn, commitTime: MicrosSinceEpoch, durable = false): QueueTicket {
    const ticket: QueueTicket = { commitLsn, endLsn, commitTime, durable };
    this.entries.push(ticket);
    return ticket;
  }

  /**
   * Removes the durable prefix and returns its last ticket (what to confirm), or undefined when
   * the head is still pending. A durable ticket behind a pending one waits.
   */
  takeConfirmable(): QueueTicket | undefined {
    const start = this.head;
    while (this.head < this.entries.length && this.entries[this.head]!.durable) this.head++;
    if (this.head === start) return undefined;
    const last = this.entries[this.head - 1];
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return last;
  }

  get length(): number {
    return this.entries.length - this.head;
  }

  /** forgets everything: after a failed write nothing behind it may ever be confirmed */
  clear(): void {
    this.entries = [];
    this.head = 0;
  }
}
