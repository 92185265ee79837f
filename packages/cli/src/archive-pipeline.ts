import { KafkaTransactionSink } from '@tidemark/capture';
import { Journal, type JournalLogger, KafkaJournalConsumer } from '@tidemark/journal';
import {
  loadKeyProvider,
  type ObjectStore,
  type TidemarkConfig,
  type TransactionSink,
} from '@tidemark/shared';
import type { Registry } from 'prom-client';
import { JournalMetrics } from './ops/journal-metrics.js';
import type { ReadinessCheck } from './ops/ops-server.js';

/**
 * What stands between capture and the object store in `tidemark up`: the in-process
 * journal (embedded), or Kafka with a journal consumer in the same process (when
 * TIDEMARK_KAFKA_BROKERS is set), so `up` exercises the same path as the three services.
 */
export interface ArchivePipeline {
  readonly sink: TransactionSink;
  /** starts the parts that need the source's first messages (the Kafka consumer) */
  afterCaptureStarted(): Promise<void>;
  readiness(): ReadinessCheck;
  stop(): Promise<void>;
}

export async function startArchivePipeline(
  config: TidemarkConfig,
  store: ObjectStore,
  registry: Registry,
  logger: JournalLogger & { child(b: object): JournalLogger },
): Promise<ArchivePipeline> {
  const metrics = new JournalMetrics(registry);
  const keys = await loadKeyProvider(config);
  const openJournal = async (source: string) => {
    const journal = new Journal({
      store,
      source,
      maxSegmentBytes: config.segmentMaxBytes,
      maxSegmentAgeMs: config.segmentMaxAgeMs,
      compression: config.segmentCompression,
      ...(keys ? { encryption: { provider: keys } } : {}),
      logger: logger.child({ component: 'journal', source }),
      onDurable: (info) => metrics.onDurable(source, info),
    });
    await journal.open();
    metrics.watch(source, () => journal.status);
    return journal;
  };

  const brokers = config.kafkaBrokers;
  if (!brokers) {
    const journal = await openJournal(config.sourceName);
    return {
      sink: journal,
      afterCaptureStarted: async () => {},
      readiness: () => ({
        ok: journal.status.open,
        detail: `${journal.status.segmentsWritten} segments written`,
      }),
      stop: () => journal.close(),
    };
  }

  const sink = new KafkaTransactionSink({
    brokers,
    source: config.sourceName,
    topicPrefix: config.kafkaTopicPrefix,
    logger: logger.child({ component: 'kafka' }),
  });
  const consumer = new KafkaJournalConsumer({
    brokers,
    topicPrefix: config.kafkaTopicPrefix,
    groupId: config.kafkaGroupId,
    sources: [config.sourceName],
    sessionTimeoutMs: config.kafkaSessionTimeoutMs,
    heartbeatIntervalMs: config.kafkaHeartbeatIntervalMs,
    makeJournal: openJournal,
    logger: logger.child({ component: 'journal-consumer' }),
  });
  return {
    sink,
    // the topic exists once capture has published (a heartbeat at the latest)
    afterCaptureStarted: () => consumer.start(),
    readiness: () => ({
      ok: consumer.status.running && consumer.status.fatalError === undefined,
      detail: consumer.status.fatalError ?? 'consuming',
    }),
    stop: async () => {
      await sink.close();
      await consumer.stop();
    },
  };
}
