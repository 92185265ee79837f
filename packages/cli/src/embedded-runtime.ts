import path from 'node:path';
import { CaptureService } from '@tidemark/capture';
import { Journal } from '@tidemark/journal';
import { buildRestoreApp } from '@tidemark/restore';
import {
  createLogger,
  formatLsn,
  initChecksums,
  LocalObjectStore,
  redactUrl,
  type TidemarkConfig,
} from '@tidemark/shared';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { resolveApiTokens } from './api-tokens.js';
import { type DemoPostgres, startDemoPostgres } from './demo-postgres.js';
import { registerCaptureMetrics } from './ops/capture-metrics.js';
import { JournalMetrics } from './ops/journal-metrics.js';
import { printBanner } from './startup-banner.js';

/**
 * `tidemark up` in embedded mode: capture, journal and restore in one process. The journal
 * lives in `<dataDir>/journal`; capture hands transactions to it in-process and confirms an
 * LSN to PostgreSQL only once its segment is fsynced, so the replication slot is the
 * durable buffer and a crash at any moment loses nothing.
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
  const journalMetrics = new JournalMetrics(registry);
  const store = new LocalObjectStore(path.join(config.dataDir, 'journal'));
  const journal = new Journal({
    onDurable: (info) => journalMetrics.onDurable(config.sourceName, info),
    store,
    source: config.sourceName,
    maxSegmentBytes: config.segmentMaxBytes,
    maxSegmentAgeMs: config.segmentMaxAgeMs,
    logger: logger.child({ component: 'journal' }),
  });
  await journal.open();
  journalMetrics.watch(config.sourceName, () => journal.status);
  const capture = new CaptureService({
    sourceUrl,
    sourceName: config.sourceName,
    slotName: config.slotName,
    publicationName: config.publicationName,
    tablesWithoutKey: config.tablesWithoutKey,
    store,
    sink: journal,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    logger: logger.child({ component: 'capture' }),
  });
  logger.info({ source: config.sourceName, url: redactUrl(sourceUrl) }, 'starting capture');
  await capture.start();
  registerCaptureMetrics(registry, {
    source: config.sourceName,
    sourceUrl,
    slotName: config.slotName,
    status: () => capture.status,
  });

  const { tokens, generated } = await resolveApiTokens(config.apiTokens, config.dataDir);
  const restore = await buildRestoreApp({
    store,
    stateDir: path.join(config.dataDir, 'restores'),
    maxConcurrentRestores: config.maxConcurrentRestores,
    tokens,
    metricsRegistry: registry,
    logger: logger.child({ component: 'api' }),
    readiness: () => ({
      capture: {
        ok: capture.status.connected,
        detail: `confirmed ${capture.status.confirmedLsn === undefined ? 'nothing yet' : formatLsn(capture.status.confirmedLsn)}`,
      },
      journal: { ok: journal.status.open, detail: `${journal.status.segmentsWritten} segments written` },
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
      await journal.close();
      await demo?.stop();
      logger.info('stopped');
    })();
    return stopping;
  };
  return { stop };
}
