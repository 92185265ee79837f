import type { KeyProvider, ObjectStore } from '@tidemark/shared';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { ApiToken, ReadinessCheck } from './api/api-ports.js';
import { buildApi } from './api/build-api.js';
import { JournalCatalog } from './engine/journal-catalog.js';
import { verifyJournal } from './engine/journal-verifier.js';
import { RestorePointService } from './engine/restore-points.js';
import { RestoreRunner } from './engine/restore-runner.js';

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
  /** master keys of encrypted segments: verification then also decrypts and checks their records */
  readonly keys?: KeyProvider;
}

export interface RestoreApp {
  readonly app: FastifyInstance;
  readonly runner: RestoreRunner;
  readonly catalog: JournalCatalog;
  readonly restorePoints: RestorePointService;
  /** starts listening; resolves with the base URL */
  listen(host: string, port: number): Promise<string>;
  /** stops taking requests, then fails running restores with a clear message */
  close(): Promise<void>;
}

/** The restore service: engine (catalog, runner, verifier) behind the HTTP API. */
export async function buildRestoreApp(opts: RestoreAppOptions): Promise<RestoreApp> {
  const registry = opts.metricsRegistry ?? new Registry();
  if (!opts.metricsRegistry) collectDefaultMetrics({ register: registry });
  const catalog = new JournalCatalog(opts.store, opts.keys ? { keys: opts.keys } : {});
  const runner = new RestoreRunner({
    store: opts.store,
    catalog,
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
  const app = await buildApi({
    sources: catalog,
    restores: runner,
    restorePoints,
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
    tokens: opts.tokens,
    metricsRegistry: registry,
    logger: opts.logger,
  });
  return {
    app,
    runner,
    catalog,
    restorePoints,
    listen: async (host, port) => {
      await app.listen({ host, port });
      const addr = app.server.address();
      const actual = typeof addr === 'object' && addr ? addr.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
    },
    close: async () => {
      await app.close();
      await runner.close();
    },
  };
}
