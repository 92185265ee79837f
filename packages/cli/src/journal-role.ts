import { Journal, KafkaJournalConsumer } from '@tidemark/journal';
import {
  createLogger,
  initChecksums,
  loadKeyProvider,
  type TidemarkConfig,
  TidemarkError,
} from '@tidemark/shared';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { openObjectStore } from './object-store-factory.js';
import { JournalMetrics } from './ops/journal-metrics.js';
import { startOpsServer } from './ops/ops-server.js';
import { openConfiguredReplicas, startReplication } from './replication/replication-setup.js';
import type { RunningRole } from './running-role.js';
import { listRegisteredSources } from './source-registry.js';

const DISCOVERY_INTERVAL_MS = 2_000;

/**
 * `tidemark journal`: a member of the journal consumer group. It archives the sources
 * registered in the object store (capture registers its source before publishing); when a
 * new source appears, the consumer is restarted to subscribe to it too.
 */
export async function runJournalRole(config: TidemarkConfig): Promise<RunningRole> {
  const brokers = config.kafkaBrokers;
  if (!brokers) {
    throw new TidemarkError(
      'CONFIG_INVALID',
      'tidemark journal needs TIDEMARK_KAFKA_BROKERS (where to consume from)',
    );
  }
  const logger = createLogger({ name: 'tidemark-journal', level: config.logLevel });
  await initChecksums();
  const store = openObjectStore(config);
  const keys = await loadKeyProvider(config);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = new JournalMetrics(registry);
  const replicator = startReplication(
    store,
    openConfiguredReplicas(config, logger),
    registry,
    logger.child({ component: 'replicator' }),
  );
  let consumer: KafkaJournalConsumer | undefined;
  let sources: string[] = [];
  new Gauge({
    name: 'tidemark_journal_consumer_lag_messages',
    help: 'Kafka messages of a source not yet durable in the object store',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      for (const s of consumer?.status.sources ?? []) {
        if (s.lag !== undefined) this.set({ source: s.source }, Number(s.lag));
      }
    },
  });

  const makeConsumer = (names: string[]) =>
    new KafkaJournalConsumer({
      brokers,
      topicPrefix: config.kafkaTopicPrefix,
      groupId: config.kafkaGroupId,
      sources: names,
      sessionTimeoutMs: config.kafkaSessionTimeoutMs,
      heartbeatIntervalMs: config.kafkaHeartbeatIntervalMs,
      logger,
      makeJournal: async (source) => {
        const journal = new Journal({
          store,
          source,
          maxSegmentBytes: config.segmentMaxBytes,
          maxSegmentAgeMs: config.segmentMaxAgeMs,
          compression: config.segmentCompression,
          ...(keys ? { encryption: { provider: keys } } : {}),
          logger: logger.child({ source }),
          onDurable: (info) => metrics.onDurable(source, info),
        });
        await journal.open();
        metrics.watch(source, () => journal.status);
        return journal;
      },
      onFatal: (err) => {
        logger.fatal({ err }, 'journal consumer stopped on data it must not archive');
        process.exitCode = 1;
      },
    });

  let stopped = false;
  let switching: Promise<void> = Promise.resolve();
  const discover = async () => {
    const found = await listRegisteredSources(store);
    if (stopped || found.join(',') === sources.join(',') || found.length === 0) return;
    logger.info({ sources: found }, 'archiving sources');
    await consumer?.stop();
    sources = found;
    consumer = makeConsumer(found);
    await consumer.start();
  };
  await discover();
  const timer = setInterval(() => {
    switching = switching
      .then(discover)
      .catch((err: unknown) => logger.error({ err }, 'source discovery failed; retrying'));
  }, DISCOVERY_INTERVAL_MS);

  const ops = await startOpsServer({
    host: config.host,
    port: config.port,
    registry,
    readiness: () => ({
      consumer: {
        ok: consumer?.status.running === true && consumer.status.fatalError === undefined,
        detail: consumer
          ? (consumer.status.fatalError ?? `sources: ${sources.join(', ')}`)
          : 'no source registered yet',
      },
      ...(replicator ? { replication: replicator.readiness() } : {}),
    }),
  });
  logger.info({ ops: ops.url }, 'journal running');
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await switching;
      await ops.close();
      await consumer?.stop();
      await replicator?.stop();
    },
  };
}
