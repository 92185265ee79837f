import { type ObjectStore, type RetentionDuration, TidemarkError } from '@tidemark/shared';
import type { FastifyBaseLogger } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { JournalCatalog } from './engine/journal-catalog.js';
import type { RegionCatalogs } from './engine/region-catalogs.js';
import { type GcReport, RetentionCollector } from './engine/retention-collector.js';

/**
 * The garbage collector in the restore service: the collector, its metrics, and the
 * schedule (every `gcIntervalMs`, each source that has a retention, one source at a time).
 * Every replica region gets its own collector over the region's own store and catalog:
 * the same window, but the kept snapshot chosen from what the region holds and the leases
 * of restores reading the region, so a lagging region never loses what a restore from it
 * needs (docs/architecture.md, "Replica regions"). Deletions are never copied between stores.
 */
export interface RetentionSettings {
  /** each source's retention; null: keep everything */
  readonly forSource: (source: string) => RetentionDuration | null;
  /** 0: only on demand */
  readonly gcIntervalMs: number;
}

export interface RetentionWiring {
  readonly collector: RetentionCollector;
  /** runs one collection (of the primary, or of `region`'s store) and records it in the metrics */
  collect(source: string, options: { dryRun?: boolean; region?: string }): Promise<GcReport>;
  startSchedule(): void;
  close(): Promise<void>;
}

export function buildRetention(opts: {
  readonly store: ObjectStore;
  readonly catalog: JournalCatalog;
  readonly settings: RetentionSettings;
  readonly logger: FastifyBaseLogger;
  readonly registry: Registry;
  /** replica regions: each is collected in its own store */
  readonly regions?: RegionCatalogs;
}): RetentionWiring {
  const logger = opts.logger.child({ component: 'gc' });
  const collector = new RetentionCollector({
    store: opts.store,
    catalog: opts.catalog,
    retention: opts.settings.forSource,
    logger,
  });
  const regionCollectors = new Map<string, { collector: RetentionCollector; catalog: JournalCatalog }>();
  for (const view of opts.regions?.views() ?? []) {
    regionCollectors.set(view.region ?? '', {
      catalog: view.catalog,
      collector: new RetentionCollector({
        store: view.store,
        catalog: view.catalog,
        retention: opts.settings.forSource,
        logger: logger.child({ region: view.region }),
      }),
    });
  }
  // the primary's series keep only `source`; a region's add `region`
  const labelNames = ['source', 'region'] as const;
  const objects = new Counter({
    name: 'tidemark_gc_deleted_objects_total',
    help: 'objects (snapshot files and segments) deleted by the garbage collector',
    labelNames,
    registers: [opts.registry],
  });
  const bytes = new Counter({
    name: 'tidemark_gc_deleted_bytes_total',
    help: 'bytes deleted by the garbage collector',
    labelNames,
    registers: [opts.registry],
  });
  const locked = new Gauge({
    name: 'tidemark_gc_locked_objects',
    help: 'objects the last collection could not delete yet because Object Lock still retains them',
    labelNames,
    registers: [opts.registry],
  });
  const lastRun = new Gauge({
    name: 'tidemark_gc_last_run_timestamp_seconds',
    help: 'when the last collection (not a dry run) of the source ended',
    labelNames,
    registers: [opts.registry],
  });
  const failures = new Counter({
    name: 'tidemark_gc_failures_total',
    help: 'collections that failed (the next one retries)',
    labelNames,
    registers: [opts.registry],
  });

  const collect = async (
    source: string,
    options: { dryRun?: boolean; region?: string },
  ): Promise<GcReport> => {
    const region = options.region;
    // an unknown region is a BAD_REQUEST naming the known ones
    if (region !== undefined) opts.regions?.resolve(region, 'region');
    const chosen = region === undefined ? collector : regionCollectors.get(region)?.collector;
    if (!chosen)
      throw new TidemarkError('BAD_REQUEST', `region: unknown region ${JSON.stringify(region)}`, {
        details: { field: 'region', region },
      });
    const labels = region === undefined ? { source } : { source, region };
    try {
      const report = await chosen.collect(source, options.dryRun ? { dryRun: true } : {});
      if (!report.dryRun && report.retention !== null) {
        objects.inc(labels, report.objects);
        bytes.inc(labels, report.bytes);
        locked.set(labels, report.locked.length);
        lastRun.set(labels, Date.now() / 1000);
      }
      return region === undefined ? report : { ...report, region };
    } catch (err) {
      failures.inc(labels);
      throw err;
    }
  };

  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  let passRunning = false;
  const runStore = async (catalog: JournalCatalog, region: string | undefined) => {
    for (const source of await catalog.listSourceNames()) {
      if (!opts.settings.forSource(source)) continue;
      try {
        await collect(source, region === undefined ? {} : { region });
      } catch (err) {
        logger.error({ source, region, err }, 'garbage collection failed; retrying at the next interval');
      }
    }
  };
  // each store on its own: an unreachable primary must not keep the regions from being collected
  const runPass = async () => {
    const stores: [JournalCatalog, string | undefined][] = [
      [opts.catalog, undefined],
      ...[...regionCollectors].map(([name, r]): [JournalCatalog, string] => [r.catalog, name]),
    ];
    for (const [catalog, region] of stores) {
      await runStore(catalog, region).catch((err: unknown) =>
        logger.error({ region, err }, 'garbage collection pass of a store failed'),
      );
    }
  };
  return {
    collector,
    collect,
    startSchedule: () => {
      if (opts.settings.gcIntervalMs <= 0 || timer) return;
      timer = setInterval(() => {
        if (passRunning) return; // a pass longer than the interval: skip, do not pile up
        passRunning = true;
        pass = runPass()
          .catch((err: unknown) => logger.error({ err }, 'garbage collection pass failed'))
          .finally(() => {
            passRunning = false;
          });
      }, opts.settings.gcIntervalMs);
      timer.unref();
    },
    close: async () => {
      clearInterval(timer);
      timer = undefined;
      await pass;
    },
  };
}
