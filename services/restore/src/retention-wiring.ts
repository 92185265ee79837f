import type { ObjectStore, RetentionDuration } from '@tidemark/shared';
import type { FastifyBaseLogger } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { JournalCatalog } from './engine/journal-catalog.js';
import { type GcReport, RetentionCollector } from './engine/retention-collector.js';

/**
 * The garbage collector in the restore service: the collector, its metrics, and the
 * schedule (every `gcIntervalMs`, each source that has a retention, one source at a time).
 */
export interface RetentionSettings {
  /** each source's retention; null: keep everything */
  readonly forSource: (source: string) => RetentionDuration | null;
  /** 0: only on demand */
  readonly gcIntervalMs: number;
}

export interface RetentionWiring {
  readonly collector: RetentionCollector;
  /** runs one collection and records it in the metrics */
  collect(source: string, options: { dryRun?: boolean }): Promise<GcReport>;
  startSchedule(): void;
  close(): Promise<void>;
}

export function buildRetention(opts: {
  readonly store: ObjectStore;
  readonly catalog: JournalCatalog;
  readonly settings: RetentionSettings;
  readonly logger: FastifyBaseLogger;
  readonly registry: Registry;
}): RetentionWiring {
  const logger = opts.logger.child({ component: 'gc' });
  const collector = new RetentionCollector({
    store: opts.store,
    catalog: opts.catalog,
    retention: opts.settings.forSource,
    logger,
  });
  const labelNames = ['source'] as const;
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

  const collect = async (source: string, options: { dryRun?: boolean }): Promise<GcReport> => {
    try {
      const report = await collector.collect(source, options);
      if (!report.dryRun && report.retention !== null) {
        objects.inc({ source }, report.objects);
        bytes.inc({ source }, report.bytes);
        locked.set({ source }, report.locked.length);
        lastRun.set({ source }, Date.now() / 1000);
      }
      return report;
    } catch (err) {
      failures.inc({ source });
      throw err;
    }
  };

  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  let passRunning = false;
  const runPass = async () => {
    for (const source of await opts.catalog.listSourceNames()) {
      if (!opts.settings.forSource(source)) continue;
      try {
        await collect(source, {});
      } catch (err) {
        logger.error({ source, err }, 'garbage collection failed; retrying at the next interval');
      }
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
