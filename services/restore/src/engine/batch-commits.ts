import { setImmediate } from 'node:timers/promises';
import type pg from 'pg';
import type { JournalEntry } from './journal-reader.js';

/**
 * The target transactions of a replay, one per batch, with at most one commit in flight:
 * while batch N's last statements run and commit, batch N+1 is read, verified, decoded
 * and planned in Node, which needs no connection, so Node and the server work at the same
 * time instead of taking turns. Nothing of batch N+1 reaches the connection before batch N
 * committed: every write of a batch first waits for `ready()`, and transactions stay
 * strictly one after the other.
 */
export class BatchFailure extends Error {
  constructor(
    /** the source transactions of the batch that failed to apply or commit */
    readonly entries: readonly JournalEntry[],
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'BatchFailure';
  }
}

export class BatchCommits {
  private open = false;
  private inFlight: Promise<void> | undefined;
  private committing = false;
  private lastYield = 0;

  constructor(private readonly client: pg.Client) {}

  /** Before any statement of the current batch: the previous one committed, a transaction is open. */
  async ready(): Promise<void> {
    await this.settle();
    await this.begin();
  }

  /**
   * Commits the current batch without waiting: `write` sends what is still queued of it,
   * then COMMIT; `onCommitted` runs once it is durable. A failure surfaces as a
   * BatchFailure naming `entries` from the next `ready()` or `settle()`.
   */
  commit(entries: readonly JournalEntry[], write: () => Promise<void>, onCommitted: () => void): void {
    const previous = this.inFlight;
    const done = (async () => {
      if (previous) await previous; // its own BatchFailure, unchanged
      this.committing = true;
      try {
        await this.begin();
        await write();
        await this.client.query('COMMIT');
        this.open = false;
      } catch (err) {
        throw new BatchFailure(entries, err);
      } finally {
        this.committing = false;
      }
      onCommitted();
    })();
    done.catch(() => {}); // observed by ready(), settle() or abandon(), never lost
    this.inFlight = done;
  }

  /**
   * Lets the commit in flight move on; call between records. Planning from a segment
   * already in memory runs in microtasks only, and every step of a commit (BEGIN, COPY,
   * statements, COMMIT) is sent only once the answer to the previous one was read, which
   * takes a turn of the event loop: without this the commit would advance only when the
   * reader next waits for I/O. At most every half millisecond, so it costs next to nothing.
   */
  async breathe(): Promise<void> {
    if (!this.committing) return;
    const now = performance.now();
    if (now - this.lastYield < 0.5) return;
    await setImmediate();
    this.lastYield = performance.now();
  }

  /** Waits for the commit in flight, if any; throws its BatchFailure. */
  async settle(): Promise<void> {
    if (this.inFlight) await this.inFlight;
  }

  /**
   * After an error: lets the commit in flight finish (it holds whole transactions that
   * may well commit) and rolls back the open transaction. Returns that commit's failure,
   * if it failed, and whether the connection still answers.
   */
  async abandon(): Promise<{ failure: BatchFailure | undefined; connected: boolean }> {
    const failure = await this.settle().then(
      () => undefined,
      (err: unknown) => (err instanceof BatchFailure ? err : new BatchFailure([], err)),
    );
    this.inFlight = undefined;
    const connected = await this.client.query('ROLLBACK').then(
      () => true,
      () => false,
    );
    this.open = false;
    return { failure, connected };
  }

  private async begin(): Promise<void> {
    if (this.open) return;
    await this.client.query('BEGIN');
    this.open = true;
  }
}
