import {
  formatLsn,
  formatTimestampMicros,
  isTidemarkError,
  type LeaseFloor,
  leaseFloor,
  type ObjectStore,
  parseLsn,
  parseSegmentKey,
  planRetention,
  type RetentionDuration,
  type RetentionSegment,
  type RetentionSnapshot,
  segmentsPrefix,
  segmentsStillDeletable,
  snapshotsPrefix,
  snapshotsStillDeletable,
  type TipDocument,
} from '@tidemark/shared';
import type { EngineLogger } from './engine-logger.js';
import type { JournalCatalog } from './journal-catalog.js';
import { DEFAULT_LEASE_TTL_MS, readLeases } from './journal-leases.js';
import { restoreWindow, type SnapshotInfo } from './restore-window.js';

/**
 * The garbage collector's I/O: lists a source's snapshots, segments, tip and leases, asks
 * the pure planner (core/retention-plan.ts) what may go, and deletes it: older snapshots
 * first (each manifest before its tables, so a half-deleted snapshot is never listed as
 * usable), then segments in batches. Right before each snapshot and each batch it reads
 * the leases again and drops whatever a live lease needs. An object under Object Lock is
 * skipped and reported (with a snapshot whose manifest is locked, the whole snapshot).
 * A dry run lists what would go and deletes nothing.
 */
export interface RetentionCollectorOptions {
  readonly store: ObjectStore;
  readonly catalog: JournalCatalog;
  /** each source's retention; null: keep everything */
  readonly retention: (source: string) => RetentionDuration | null;
  readonly logger: EngineLogger;
  readonly now?: () => number;
  /** a lease counts as live until this long after its expiry (default: a lease's life, 60 s) */
  readonly leaseGraceMs?: number;
  /**
   * the collector keeps this much more than the window: a restore service whose clock runs
   * behind ours may still offer an instant we already consider outside (default: a tenth of
   * the retention, at most 60 s)
   */
  readonly clockSkewMs?: number;
  /** objects of a snapshot without a manifest are left this long (default 1 h): it may be being written */
  readonly orphanGraceMs?: number;
  /** segments deleted between two readings of the leases (default 100) */
  readonly batchSize?: number;
}

export interface GcObject {
  readonly key: string;
  readonly size: number;
}

export interface GcReport {
  readonly source: string;
  /** the replica region collected; absent: the primary store */
  readonly region?: string;
  readonly dryRun: boolean;
  /** `7d`; null: the source keeps everything and nothing was considered */
  readonly retention: string | null;
  readonly startedAt: string;
  readonly durationMs: number;
  /** now − retention (µs ISO); null without a retention */
  readonly windowStart: string | null;
  /** the snapshot the window restores from at the oldest: the earliest restorable instant once collected */
  readonly keptSnapshot: { readonly lsn: string; readonly time: string } | null;
  /** deleted (or, in a dry run, to delete): snapshots, segments, objects and bytes */
  readonly snapshots: number;
  readonly segments: number;
  readonly objects: number;
  readonly bytes: number;
  /** the objects deleted, or in a dry run those that would be */
  readonly deleted: readonly GcObject[];
  /** objects still under Object Lock, left for a later run */
  readonly locked: readonly { readonly key: string; readonly retainUntil: string | null }[];
  /** leases (restore ids) that kept something the window alone would have let go */
  readonly heldBy: readonly string[];
  readonly notes: readonly string[];
}

export class RetentionCollector {
  private readonly running = new Map<string, Promise<GcReport>>();

  constructor(private readonly opts: RetentionCollectorOptions) {}

  /** One collection of `source`; a second call while one runs waits for it and runs after. */
  collect(source: string, options: { dryRun?: boolean } = {}): Promise<GcReport> {
    const before = this.running.get(source) ?? Promise.resolve(undefined);
    const run = before.catch(() => undefined).then(() => this.collectOnce(source, options.dryRun === true));
    this.running.set(source, run);
    void run
      .finally(() => {
        if (this.running.get(source) === run) this.running.delete(source);
      })
      .catch(() => {});
    return run;
  }

  private async collectOnce(source: string, dryRun: boolean): Promise<GcReport> {
    const { catalog, logger } = this.opts;
    await catalog.requireSource(source);
    const now = this.opts.now ?? Date.now;
    const started = now();
    const retention = this.opts.retention(source);
    const report = new ReportBuilder(source, dryRun, retention, started);
    if (!retention) {
      report.notes.push(
        `source ${source} has no retention (TIDEMARK_RETENTION / TIDEMARK_RETENTION_BY_SOURCE): the journal is kept whole`,
      );
      return report.done(now());
    }
    // `now` is taken before the leases are read: see "Retention and GC" in docs/architecture.md
    const nowMicros = BigInt(started) * 1000n;
    const tip = await catalog.readTip(source);
    const [snapshots, segments] = await Promise.all([
      this.listSnapshots(source, tip),
      this.listSegments(source),
    ]);
    const leases = await this.readFloor(source, started);
    const plan = planRetention({
      snapshots,
      segments,
      tipSegmentKey: tip?.segmentKey ?? null,
      leases,
      nowMicros,
      retentionMicros:
        BigInt(retention.ms + (this.opts.clockSkewMs ?? Math.min(60_000, Math.floor(retention.ms / 10)))) *
        1000n,
      orphanGraceMicros: BigInt(this.opts.orphanGraceMs ?? 3_600_000) * 1000n,
    });
    report.windowStart = formatTimestampMicros(nowMicros - BigInt(retention.ms) * 1000n);
    if (plan.kept)
      report.keptSnapshot = { lsn: formatLsn(plan.kept.lsn), time: formatTimestampMicros(plan.kept.time) };
    else report.notes.push('no snapshot is older than the window start yet: nothing can go');
    report.addHeld(plan.heldBy);

    if (dryRun) {
      for (const s of plan.snapshots) report.snapshot(s.keys);
      for (const s of plan.segments) report.segment(s);
      return report.done(now());
    }
    for (const snapshot of plan.snapshots) {
      const floor = await this.readFloor(source, now());
      if (snapshotsStillDeletable([snapshot], floor).length === 0) {
        report.addHeld(floorHolders(floor));
        continue;
      }
      const deleted: GcObject[] = [];
      for (const [i, object] of snapshot.keys.entries()) {
        const outcome = await this.remove(object.key, report);
        // a manifest that stays (locked) keeps the snapshot usable: its tables stay too
        if (outcome === 'locked' && i === 0) break;
        if (outcome === 'deleted') deleted.push(object);
      }
      if (deleted.length > 0) report.snapshot(deleted);
    }
    const batch = this.opts.batchSize ?? 100;
    for (let i = 0; i < plan.segments.length; i += batch) {
      const floor = await this.readFloor(source, now());
      const allowed = segmentsStillDeletable(plan.segments.slice(i, i + batch), floor);
      if (allowed.length < Math.min(batch, plan.segments.length - i)) report.addHeld(floorHolders(floor));
      for (const s of allowed) if ((await this.remove(s.key, report)) === 'deleted') report.segment(s);
    }
    const done = report.done(now());
    logger.info(
      {
        source,
        retention: retention.text,
        keptSnapshot: done.keptSnapshot,
        snapshots: done.snapshots,
        segments: done.segments,
        objects: done.objects,
        bytes: done.bytes,
        locked: done.locked.length,
        heldBy: done.heldBy,
        durationMs: done.durationMs,
      },
      'journal garbage-collected',
    );
    return done;
  }

  private async remove(key: string, report: ReportBuilder): Promise<'deleted' | 'locked'> {
    try {
      await this.opts.store.delete(key);
      return 'deleted';
    } catch (err) {
      if (!isTidemarkError(err, 'OBJECT_LOCKED')) throw err;
      const until = err.details.retainUntil;
      report.locked.push({ key, retainUntil: typeof until === 'string' ? until : null });
      return 'locked';
    }
  }

  private async readFloor(source: string, nowMs: number): Promise<LeaseFloor> {
    return leaseFloor(
      await readLeases(this.opts.store, source),
      nowMs,
      this.opts.leaseGraceMs ?? DEFAULT_LEASE_TTL_MS,
    );
  }

  /** Every `base/<lsn>/` directory: its manifest (if any, and whether usable) and its other objects. */
  private async listSnapshots(source: string, tip: TipDocument | null): Promise<RetentionSnapshot[]> {
    const prefix = snapshotsPrefix(source);
    const dirs = new Map<
      string,
      { manifest?: { key: string; size: number }; objects: RetentionSnapshot['objects'][number][] }
    >();
    for await (const o of this.opts.store.list(prefix)) {
      const m = /^([0-9A-F]{16})\/(.+)$/.exec(o.key.slice(prefix.length));
      if (!m) continue;
      const [, lsnHex, rest] = m as unknown as [string, string, string];
      const dir = dirs.get(lsnHex) ?? { objects: [] };
      dirs.set(lsnHex, dir);
      if (rest === 'manifest.json') dir.manifest = { key: o.key, size: o.size };
      else dir.objects.push({ key: o.key, size: o.size, modifiedMs: o.modified.getTime() });
    }
    const infos: SnapshotInfo[] = [];
    const times = new Map<string, bigint>();
    for (const [lsnHex, dir] of dirs) {
      if (!dir.manifest) continue;
      try {
        const info = await this.opts.catalog.readSnapshot(source, dir.manifest.key);
        infos.push(info);
        times.set(lsnHex, BigInt(info.snapshotTime));
      } catch (err) {
        // a manifest that does not parse is never usable; it goes once older than the kept snapshot
        if (!isTidemarkError(err, 'SNAPSHOT_CORRUPT')) throw err;
      }
    }
    const usable = new Set((restoreWindow(infos, tip)?.snapshots ?? []).map((s) => s.manifestKey));
    return [...dirs].map(([lsnHex, dir]) => ({
      lsn: parseLsn(lsnHex),
      time: times.get(lsnHex) ?? 0n,
      manifestKey: dir.manifest?.key ?? null,
      manifestSize: dir.manifest?.size ?? 0,
      objects: dir.objects,
      usable: dir.manifest !== undefined && usable.has(dir.manifest.key),
    }));
  }

  private async listSegments(source: string): Promise<RetentionSegment[]> {
    const out: RetentionSegment[] = [];
    for await (const o of this.opts.store.list(segmentsPrefix(source))) {
      const parsed = parseSegmentKey(o.key);
      if (!parsed || parsed.source !== source) continue;
      out.push({ key: o.key, firstLsn: parsed.firstLsn, lastLsn: parsed.lastLsn, size: o.size });
    }
    return out;
  }
}

function floorHolders(floor: LeaseFloor): readonly string[] {
  return floor.kind === 'none' ? [] : floor.holders;
}

class ReportBuilder {
  windowStart: string | null = null;
  keptSnapshot: GcReport['keptSnapshot'] = null;
  readonly notes: string[] = [];
  readonly locked: { key: string; retainUntil: string | null }[] = [];
  private readonly deleted: GcObject[] = [];
  private readonly held = new Set<string>();
  private snapshots = 0;
  private segments = 0;

  constructor(
    private readonly source: string,
    private readonly dryRun: boolean,
    private readonly retention: RetentionDuration | null,
    private readonly startedMs: number,
  ) {}

  snapshot(objects: readonly GcObject[]): void {
    this.snapshots++;
    for (const o of objects) this.deleted.push({ key: o.key, size: o.size });
  }

  segment(o: GcObject): void {
    this.segments++;
    this.deleted.push({ key: o.key, size: o.size });
  }

  addHeld(holders: readonly string[]): void {
    for (const h of holders) this.held.add(h);
  }

  done(endMs: number): GcReport {
    return {
      source: this.source,
      dryRun: this.dryRun,
      retention: this.retention?.text ?? null,
      startedAt: new Date(this.startedMs).toISOString(),
      durationMs: endMs - this.startedMs,
      windowStart: this.windowStart,
      keptSnapshot: this.keptSnapshot,
      snapshots: this.snapshots,
      segments: this.segments,
      objects: this.deleted.length,
      bytes: this.deleted.reduce((a, o) => a + o.size, 0),
      deleted: this.deleted,
      locked: this.locked,
      heldBy: [...this.held],
      notes: this.notes,
    };
  }
}
