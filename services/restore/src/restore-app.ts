import path from 'node:path';
import type { KeyProvider, ObjectStore } from '@tidemark/shared';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { ApiToken, ReadinessCheck } from './api/api-ports.js';
import { buildApi } from './api/build-api.js';
import { buildAuditWiring } from './audit-wiring.js';
import { CompactionService, type CompactionServiceOptions } from './engine/compaction-service.js';
import { JournalCatalog } from './engine/journal-catalog.js';
import { verifyJournal } from './engine/journal-verifier.js';
import { RegionCatalogs } from './engine/region-catalogs.js';
import { compareRegions } from './engine/region-compare.js';
import { RegionalSources } from './engine/region-sources.js';
import { RestorePointService } from './engine/restore-points.js';
import { RestoreRunner } from './engine/restore-runner.js';
import { listSnapshotViews } from './engine/snapshot-listing.js';
import { buildRetention, type RetentionSettings } from './retention-wiring.js';

export interface RestoreAppOptions {
  readonly store: ObjectStore;
  /** where restore job states are kept */
  readonly stateDir: string;
  readonly maxConcurrentRestores: number;
  readonly tokens: readonly ApiToken[];
  readonly logger: FastifyBaseLogger;
  /** checks of the co-located services (embedded mode) added to /readyz */
  readonly readiness?: () => Record<string, ReadinessCheck>;
  /** registry shared with the other services of the process; a new one by default */
  readonly metricsRegistry?: Registry;
  /**
   * source name → URL of the source database, for the sources this service may write
   * restore points into (embedded mode: the one it captures). Without one, creating a
   * restore point for that source is refused; listing works for every source.
   */
  readonly sourceUrls?: Readonly<Record<string, string>>;
  /** the restore rate dry-run estimates assume, bytes per second */
  readonly estimateBytesPerSecond?: number;
  /** where the report signing key (when generated) and audit.log live; default: the parent of stateDir */
  readonly dataDir?: string;
  /** TIDEMARK_REPORT_SIGNING_KEY_FILE: Ed25519 PKCS#8 PEM signing verification reports */
  readonly reportSigningKeyFile?: string;
  /** master keys of encrypted segments: verification then also decrypts and checks their records */
  readonly keys?: KeyProvider;
  /** compaction snapshots (snapshot-compactor.ts): where to build them, how often, how to store their tables */
  readonly compaction?: Omit<CompactionServiceOptions, 'store' | 'catalog' | 'logger'>;
  /** replica regions (TIDEMARK_REPLICAS) by name: restores can read one (`from`), listings show their lag */
  readonly replicas?: ReadonlyMap<string, ObjectStore>;
  /** retention window per source and the garbage collector's schedule; absent: keep everything, no GC endpoint */
  readonly retention?: RetentionSettings;
}

export interface RestoreApp {
  readonly app: FastifyInstance;
  readonly runner: RestoreRunner;
  readonly catalog: JournalCatalog;
  readonly restorePoints: RestorePointService;
  readonly compaction: CompactionService;
  /** the primary and the replica regions, each with its catalog */
  readonly regions: RegionCatalogs;
  /** starts listening; resolves with the base URL */
  listen(host: string, port: number): Promise<string>;
  /** stops taking requests, then fails running restores with a clear message */
  close(): Promise<void>;
}

/** The restore service: engine (catalog, runner, verifier) behind the HTTP API. */
export async function buildRestoreApp(opts: RestoreAppOptions): Promise<RestoreApp> {
  const registry = opts.metricsRegistry ?? new Registry();
  if (!opts.metricsRegistry) collectDefaultMetrics({ register: registry });
  const catalog = new JournalCatalog(opts.store, {
    ...(opts.keys ? { keys: opts.keys } : {}),
    ...(opts.retention ? { retention: opts.retention.forSource } : {}),
  });
  const regions = new RegionCatalogs(
    { store: opts.store, catalog },
    opts.replicas ?? new Map(),
    opts.keys,
    opts.retention?.forSource,
  );
  const retention = opts.retention
    ? buildRetention({
        store: opts.store,
        catalog,
        settings: opts.retention,
        logger: opts.logger,
        registry,
        regions,
      })
    : undefined;
  const runner = new RestoreRunner({
    store: opts.store,
    catalog,
    regions,
    stateDir: opts.stateDir,
    maxConcurrent: opts.maxConcurrentRestores,
    logger: opts.logger.child({ component: 'restore-engine' }),
    ...(opts.estimateBytesPerSecond === undefined
      ? {}
      : { estimateBytesPerSecond: opts.estimateBytesPerSecond }),
  });
  const restorePoints = new RestorePointService({
    catalog,
    sourceUrls: opts.sourceUrls ?? {},
    logger: opts.logger.child({ component: 'restore-points' }),
  });
  const compaction = new CompactionService({
    store: opts.store,
    catalog,
    logger: opts.logger.child({ component: 'compaction' }),
    ...(opts.compaction ?? { sealing: { compress: true, keys: opts.keys } }),
  });
  const audit = await buildAuditWiring({
    store: opts.store,
    catalog,
    regions,
    ...(opts.keys ? { keys: opts.keys } : {}),
    dataDir: opts.dataDir ?? path.dirname(opts.stateDir),
    ...(opts.reportSigningKeyFile ? { reportSigningKeyFile: opts.reportSigningKeyFile } : {}),
    logger: opts.logger,
  });
  const app = await buildApi({
    audit,
    snapshots: {
      list: (source) => listSnapshotViews(catalog, source),
      compact: (source) => compaction.start(source),
      job: (id) => compaction.get(id),
    },
    sources: new RegionalSources(regions),
    restores: runner,
    restorePoints,
    regionCompare: {
      compare: (source, region, compareWith) => compareRegions(regions, source, region, compareWith),
    },
    verify: {
      verify: (source) => verifyJournal(opts.store, catalog, source, opts.keys ? { keys: opts.keys } : {}),
    },
    health: {
      live: () => true,
      ready: () => {
        const checks = opts.readiness?.() ?? {};
        return { ready: Object.values(checks).every((c) => c.ok), checks };
      },
    },
    ...(retention ? { gc: { collect: (source, o) => retention.collect(source, o) } } : {}),
    tokens: opts.tokens,
    metricsRegistry: registry,
    logger: opts.logger,
  });
  return {
    app,
    runner,
    catalog,
    restorePoints,
    regions,
    compaction,
    listen: async (host, port) => {
      await app.listen({ host, port });
      compaction.startSchedule();
      retention?.startSchedule();
      const addr = app.server.address();
      const actual = typeof addr === 'object' && addr ? addr.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
    },
    close: async () => {
      await app.close();
      await audit.log.flush();
      await compaction.close();
      await retention?.close();
      await runner.close();
    },
  };
}
