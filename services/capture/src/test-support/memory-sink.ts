import type { Lsn, TransactionRecord, TransactionSink } from '@tidemark/shared';

/**
 * In-memory TransactionSink for tests. In 'auto' mode writes are durable at once; in 'manual'
 * mode each write stays pending until the test resolves or rejects it.
 */
export interface PendingWrite {
  readonly tx: TransactionRecord;
  resolve(): void;
  reject(err: Error): void;
}

export class MemorySink implements TransactionSink {
  readonly written: TransactionRecord[] = [];
  readonly pending: PendingWrite[] = [];
  /** writes to fail (by 1-based write number) in auto mode */
  failWrites = new Set<number>();
  private count = 0;

  constructor(private readonly mode: 'auto' | 'manual' = 'auto') {}

  write(tx: TransactionRecord): Promise<void> {
    this.count++;
    this.written.push(tx);
    if (this.mode === 'auto') {
      return this.failWrites.has(this.count)
        ? Promise.reject(new Error(`injected failure of write ${this.count}`))
        : Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => this.pending.push({ tx, resolve, reject }));
  }

  async durableLsn(): Promise<Lsn | undefined> {
    return undefined;
  }

  async close(): Promise<void> {}

  /** every change of every written record, with its relation's table name */
  rows(): {
    table: string;
    op: string;
    change: TransactionRecord['changes'][number];
    tx: TransactionRecord;
  }[] {
    return this.written.flatMap((tx) =>
      tx.changes.map((change) => ({
        table: 'rel' in change ? tx.relations[change.rel]!.table : '',
        op: change.op,
        change,
        tx,
      })),
    );
  }

  /** resolves once a record carrying a transactional message with `prefix` and `content` arrived */
  hasMessage(prefix: string, content?: string): boolean {
    return this.written.some((tx) =>
      tx.changes.some(
        (c) =>
          c.op === 'message' &&
          c.prefix === prefix &&
          (content === undefined || new TextDecoder().decode(c.content) === content),
      ),
    );
  }
}
