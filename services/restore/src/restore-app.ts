import type { ObjectStore } from '@tidemark/shared';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { ApiToken, ReadinessCheck } from './api/api-ports.js';
import { buildApi } from './api/build-api.js';
import { JournalCatalog } from './engine/journal-catalog.js';
import { verifyJournal } from './engine/journal-verifier.js';
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
}

export interface RestoreApp {
  readonly app: FastifyInstance;
  readonly runner: RestoreRunner;
  readonly catalog: JournalCatalog;
  /** starts listening; resolves with the base URL */
  listen(host: string, port: number): Promise<string>;
  /** stops taking requests, then fails running restores with a clear message */
  close(): Promise<void>;
}

/** The restore service: engine (catalog, runner, verifier) behind the HTTP API. */
export async function buildRestoreApp(opts: RestoreAppOptions): Promise<RestoreApp> {
  const registry = opts.metricsRegistry ?? new Registry();
  if (!opts.metricsRegistry) collectDefaultMetrics({ register: registry });
  const catalog = new JournalCatalog(opts.store);
  const runner = new RestoreRunner({
    store: opts.store,
    catalog,
    stateDir: opts.stateDir,
    maxConcurrent: opts.maxConcurrentRestores,
    logger: opts.logger.child({ component: 'restore-engine' }),
  });
  const app = await buildApi({
    sources: catalog,
    restores: runner,
    verify: { verify: (source) => verifyJournal(opts.store, catalog, source) },
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
