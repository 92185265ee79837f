import type { TransactionRecord } from './change-model.js';
import type { Lsn } from './lsn.js';

/**
 * Where capture hands committed transactions. `write` must not be awaited before the next
 * transaction is written (that would serialise throughput on the sink's durability
 * latency): the capture tracks the returned promises in order and confirms an LSN to the
 * server only once every write up to it has resolved, i.e. is durable downstream.
 *
 * Implementations: the in-process journal (embedded mode, durable = segment fsynced) and
 * the Kafka producer (durable = acks=all).
 */
export interface TransactionSink {
  /** Resolves once `tx` is durable downstream; rejects if it cannot be made durable. */
  write(tx: TransactionRecord): Promise<void>;
  /**
   * Highest commit LSN already durable downstream, read at start so capture knows where
   * the journal stands (the slot may be behind it after a crash; redelivered transactions
   * are dropped downstream by commit LSN anyway).
   */
  durableLsn(): Promise<Lsn | undefined>;
  /** Stops accepting writes after making everything written so far durable. */
  close(): Promise<void>;
}
