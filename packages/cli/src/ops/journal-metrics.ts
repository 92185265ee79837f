import type { DurableSegmentInfo, JournalStatus } from '@tidemark/journal';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Journal metrics: segment sizes, upload latency and the archive RPO. */
export class JournalMetrics {
  private readonly segments: Counter<'source'>;
  private readonly segmentBytes: Histogram<'source'>;
  private readonly uploadSeconds: Histogram<'source'>;
  private readonly statuses = new Map<string, () => JournalStatus>();

  constructor(registry: Registry) {
    this.segments = new Counter({
      name: 'tidemark_journal_segments_total',
      help: 'segments made durable',
      labelNames: ['source'],
      registers: [registry],
    });
    this.segmentBytes = new Histogram({
      name: 'tidemark_journal_segment_bytes',
      help: 'size of durable segments',
      labelNames: ['source'],
      buckets: [4096, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864],
      registers: [registry],
    });
    this.uploadSeconds = new Histogram({
      name: 'tidemark_journal_upload_seconds',
      help: 'time to make a segment and the tip durable in the store',
      labelNames: ['source'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    const statuses = this.statuses;
    new Gauge({
      name: 'tidemark_archive_rpo_seconds',
      help: 'now minus the commit time of the newest archived transaction or heartbeat',
      labelNames: ['source'],
      registers: [registry],
      collect() {
        for (const [source, status] of statuses) {
          const last = status().lastArchivedCommitTime;
          if (last !== undefined) this.set({ source }, Math.max(0, Date.now() / 1000 - Number(last) / 1e6));
        }
      },
    });
    new Gauge({
      name: 'tidemark_journal_duplicates_dropped_total',
      help: 'redelivered transactions dropped by commit LSN',
      labelNames: ['source'],
      registers: [registry],
      collect() {
        for (const [source, status] of statuses) this.set({ source }, status().duplicatesDropped);
      },
    });
  }

  watch(source: string, status: () => JournalStatus): void {
    this.statuses.set(source, status);
  }

  onDurable(source: string, info: DurableSegmentInfo): void {
    this.segments.inc({ source });
    this.segmentBytes.observe({ source }, info.bytes);
    this.uploadSeconds.observe({ source }, info.uploadMs / 1000);
  }
}
