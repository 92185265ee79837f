import path from 'node:path';
import { CaptureService } from '@tidemark/capture';
import { buildRestoreApp } from '@tidemark/restore';
import {
  createLogger,
  formatLsn,
  initChecksums,
  loadKeyProvider,
  redactUrl,
  type TidemarkConfig,
} from '@tidemark/shared';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { resolveApiTokens } from './api-tokens.js';
import { startArchivePipeline } from './archive-pipeline.js';
import { compactionSettings, NEW_TABLE_CHECK_MS, snapshotSealing } from './compaction-settings.js';
import { type DemoPostgres, startDemoPostgres } from './demo-postgres.js';
import { openObjectStore } from './object-store-factory.js';
import { registerCaptureMetrics } from './ops/capture-metrics.js';
import { timedSink } from './ops/timed-sink.js';
import { openConfiguredReplicas, startReplication } from './replication/replication-setup.js';
import { retentionSettings } from './retention-settings.js';
import { registerSource } from './source-registry.js';
import { printBanner } from './startup-banner.js';

/**
 * `tidemark up`: capture, journal and restore in one process. Embedded (the default): the
 * journal lives in `<dataDir>/journal` (or S3 when TIDEMARK_S3_BUCKET is set); capture
 * hands transactions to it in-process and confirms an LSN to PostgreSQL only once its
 * segment is durable, so the replication slot is the durable buffer and a crash at any
 * moment loses nothing. With TIDEMARK_KAFKA_BROKERS set, transactions go through Kafka.
 */
export async function runEmbedded(config: TidemarkConfig): Promise<{ stop: () => Promise<void> }> {
  const logger = createLogger({ name: 'tidemark', level: config.logLevel });
  await initChecksums();
  let demo: DemoPostgres | undefined;
  let sourceUrl = config.sourceUrl;
  if (!sourceUrl) {
    demo = await startDemoPostgres(config.dataDir, (msg) => logger.info(msg));
    sourceUrl = demo.url;
  }
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const store = openObjectStore(config);
  const keys = await loadKeyProvider(config);
  const replicas = openConfiguredReplicas(config, logger);
  await registerSource(store, config.sourceName);
  const pipeline = await startArchivePipeline(config, store, registry, logger);
  const capture = new CaptureService({
    sourceUrl,
    sourceName: config.sourceName,
    slotName: config.slotName,
    publicationName: config.publicationName,
    tablesWithoutKey: config.tablesWithoutKey,
    store,
    snapshotSealing: snapshotSealing(config, keys),
    newTableCheckMs: NEW_TABLE_CHECK_MS,
    sink: timedSink(pipeline.sink, registry, config.sourceName),
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    logger: logger.child({ component: 'capture' }),
  });
  logger.info({ source: config.sourceName, url: redactUrl(sourceUrl) }, 'starting capture');
  await capture.start();
  await pipeline.afterCaptureStarted();
  registerCaptureMetrics(registry, {
    source: config.sourceName,
    sourceUrl,
    slotName: config.slotName,
    status: () => capture.status,
  });

  const replicator = startReplication(store, replicas, registry, logger.child({ component: 'replicator' }));
  const { tokens, generated } = await resolveApiTokens(config.apiTokens, config.dataDir);
  const restore = await buildRestoreApp({
    store,
    stateDir: path.join(config.dataDir, 'restores'),
    dataDir: config.dataDir,
    ...(config.reportSigningKeyFile ? { reportSigningKeyFile: config.reportSigningKeyFile } : {}),
    ...(keys ? { keys } : {}),
    replicas,
    maxConcurrentRestores: config.maxConcurrentRestores,
    compaction: compactionSettings(config, keys, sourceUrl),
    retention: retentionSettings(config),
    tokens,
    metricsRegistry: registry,
    logger: logger.child({ component: 'api' }),
    // restore points are written into the source this process captures
    sourceUrls: { [config.sourceName]: sourceUrl },
    readiness: () => ({
      capture: {
        ok: capture.status.connected,
        detail: `confirmed ${capture.status.confirmedLsn === undefined ? 'nothing yet' : formatLsn(capture.status.confirmedLsn)}`,
      },
      journal: pipeline.readiness(),
      ...(replicator ? { replication: replicator.readiness() } : {}),
    }),
  });
  const address = await restore.listen(config.host, config.port);
  printBanner({
    address,
    source: config.sourceName,
    token: generated?.token,
    demo: demo !== undefined,
    demoUrl: demo?.adminUrl,
  });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info('shutting down');
      await restore.close();
      await capture.stop();
      await pipeline.stop();
      await replicator?.stop();
      await demo?.stop();
      logger.info('stopped');
    })();
    return stopping;
  };
  return { stop };
}
