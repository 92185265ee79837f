import type { ObjectStore } from '@tidemark/shared';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ReadinessCheck } from '../ops/ops-server.js';
import {
  RegionReplicator,
  type RegionReplicatorOptions,
  type ReplicatorLogger,
} from './region-replicator.js';

export interface ReplicatorOptions {
  readonly primary: ObjectStore;
  readonly replicas: ReadonlyMap<string, ObjectStore>;
  readonly logger: ReplicatorLogger;
  readonly registry?: Registry;
  /** tuning for every region (tests shorten the pauses) */
  readonly tuning?: Partial<Omit<RegionReplicatorOptions, 'region' | 'primary' | 'replica' | 'logger'>>;
}

/**
 * Replication to every configured region, each in its own loop so a slow or failing
 * region never holds back another, with its lag on /metrics:
 * `tidemark_replication_lag_seconds{region,source}` (primary tip commit time − region tip
 * commit time), `tidemark_replication_lag_bytes{region,source}` (bytes found missing and not
 * copied yet), `tidemark_replication_copied_bytes_total{region}`,
 * `tidemark_replication_failed_passes_total{region}` and
 * `tidemark_replication_last_success_timestamp_seconds{region}`.
 */
export class Replicator {
  readonly regions: ReadonlyMap<string, RegionReplicator>;

  constructor(opts: ReplicatorOptions) {
    const copied = opts.registry
      ? new Counter({
          name: 'tidemark_replication_copied_bytes_total',
          help: 'bytes copied to a replica region and verified',
          labelNames: ['region'],
          registers: [opts.registry],
        })
      : undefined;
    const regions = new Map<string, RegionReplicator>();
    for (const [region, replica] of opts.replicas) {
      regions.set(
        region,
        new RegionReplicator({
          ...opts.tuning,
          region,
          primary: opts.primary,
          replica,
          logger: opts.logger,
          onCopied: (bytes) => copied?.inc({ region }, bytes),
        }),
      );
    }
    this.regions = regions;
    if (opts.registry) this.registerMetrics(opts.registry);
  }

  start(): void {
    for (const r of this.regions.values()) r.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.regions.values()].map((r) => r.stop()));
  }

  /** one pass of every region (tests, and `tidemark replicate --once`-like uses) */
  async runPass(): Promise<void> {
    await Promise.all([...this.regions.values()].map((r) => r.runPass()));
  }

  /** Replication never makes a process unready: a failing region is reported, not fatal. */
  readiness(): ReadinessCheck {
    const failing = [...this.regions.values()].filter((r) => r.status.lastError !== null);
    return {
      ok: true,
      detail:
        failing.length === 0
          ? `replicating to ${[...this.regions.keys()].join(', ')}`
          : `degraded: ${failing.map((r) => `${r.status.region}: ${r.status.lastError}`).join('; ')}`,
    };
  }

  private registerMetrics(registry: Registry): void {
    const regions = this.regions;
    new Gauge({
      name: 'tidemark_replication_lag_seconds',
      help: 'commit time of the primary tip minus that of the region tip, as of the last pass',
      labelNames: ['region', 'source'],
      registers: [registry],
      collect() {
        for (const r of regions.values())
          for (const [source, lag] of r.status.sources)
            if (lag.lagSeconds !== null) this.set({ region: r.status.region, source }, lag.lagSeconds);
      },
    });
    new Gauge({
      name: 'tidemark_replication_lag_bytes',
      help: 'bytes of journal found missing in the region and not copied yet',
      labelNames: ['region', 'source'],
      registers: [registry],
      collect() {
        for (const r of regions.values())
          for (const [source, lag] of r.status.sources)
            this.set({ region: r.status.region, source }, lag.lagBytes);
      },
    });
    new Gauge({
      name: 'tidemark_replication_failed_passes_total',
      help: 'replication passes to a region that failed (and were retried)',
      labelNames: ['region'],
      registers: [registry],
      collect() {
        for (const r of regions.values()) this.set({ region: r.status.region }, r.status.failedPasses);
      },
    });
    new Gauge({
      name: 'tidemark_replication_last_success_timestamp_seconds',
      help: 'when the last complete pass to a region ended',
      labelNames: ['region'],
      registers: [registry],
      collect() {
        for (const r of regions.values())
          if (r.status.lastSuccessAt)
            this.set({ region: r.status.region }, r.status.lastSuccessAt.getTime() / 1000);
      },
    });
  }
}
