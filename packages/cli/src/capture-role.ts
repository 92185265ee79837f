import { CaptureService, KafkaTransactionSink } from '@tidemark/capture';
import {
  createLogger,
  initChecksums,
  loadKeyProvider,
  redactUrl,
  type TidemarkConfig,
  TidemarkError,
} from '@tidemark/shared';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { NEW_TABLE_CHECK_MS, snapshotSealing } from './compaction-settings.js';
import { openObjectStore } from './object-store-factory.js';
import { registerCaptureMetrics } from './ops/capture-metrics.js';
import { startOpsServer } from './ops/ops-server.js';
import { timedSink } from './ops/timed-sink.js';
import type { RunningRole } from './running-role.js';
import { registerSource } from './source-registry.js';

/**
 * `tidemark capture`: holds the slot, takes the base snapshot into the object store, and
 * publishes every transaction to Kafka; an LSN is confirmed to PostgreSQL only after Kafka
 * acknowledged it (acks=all).
 */
export async function runCaptureRole(config: TidemarkConfig): Promise<RunningRole> {
  const sourceUrl = config.sourceUrl;
  const brokers = config.kafkaBrokers;
  if (!sourceUrl || !brokers) {
    throw new TidemarkError(
      'CONFIG_INVALID',
      'tidemark capture needs TIDEMARK_SOURCE_URL (the database to protect) and TIDEMARK_KAFKA_BROKERS (where to publish); for a single process use `tidemark up`',
    );
  }
  const logger = createLogger({ name: 'tidemark-capture', level: config.logLevel });
  await initChecksums();
  const store = openObjectStore(config);
  // the base snapshot's table data is encrypted with the same master keys as the segments
  const keys = await loadKeyProvider(config);
  await registerSource(store, config.sourceName);
  const sink = new KafkaTransactionSink({
    brokers,
    source: config.sourceName,
    topicPrefix: config.kafkaTopicPrefix,
    logger: logger.child({ component: 'kafka' }),
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const capture = new CaptureService({
    sourceUrl,
    sourceName: config.sourceName,
    slotName: config.slotName,
    publicationName: config.publicationName,
    tablesWithoutKey: config.tablesWithoutKey,
    store,
    snapshotSealing: snapshotSealing(config, keys),
    newTableCheckMs: NEW_TABLE_CHECK_MS,
    sink: timedSink(sink, registry, config.sourceName),
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    logger,
  });
  logger.info({ source: config.sourceName, url: redactUrl(sourceUrl), brokers }, 'starting capture');
  await capture.start();
  registerCaptureMetrics(registry, {
    source: config.sourceName,
    sourceUrl,
    slotName: config.slotName,
    status: () => capture.status,
  });
  const ops = await startOpsServer({
    host: config.host,
    port: config.port,
    registry,
    readiness: () => ({
      replication: { ok: capture.status.connected, detail: capture.status.lastError ?? 'streaming' },
    }),
  });
  logger.info({ ops: ops.url }, 'capture running');
  return {
    stop: async () => {
      await ops.close();
      await capture.stop();
      await sink.close();
    },
  };
}
