import type { Lsn, TransactionRecord, TransactionSink } from '@tidemark/shared';
import { Histogram, type Registry } from 'prom-client';

/**
 * Measures how long the downstream takes to make a transaction durable: the produce
 * latency (Kafka acks=all) in the distributed topology, the segment latency when embedded.
 */
export function timedSink(inner: TransactionSink, registry: Registry, source: string): TransactionSink {
  const histogram = new Histogram({
    name: 'tidemark_capture_produce_seconds',
    help: 'time from handing a transaction downstream to it being durable there (Kafka ack, or segment on disk)',
    labelNames: ['source'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    write(tx: TransactionRecord): Promise<void> {
      const end = histogram.startTimer({ source });
      return inner.write(tx).then(() => {
        end();
      });
    },
    durableLsn: (): Promise<Lsn | undefined> => inner.durableLsn(),
    close: () => inner.close(),
  };
}
