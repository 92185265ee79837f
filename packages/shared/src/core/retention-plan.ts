import type { LeaseFloor } from './journal-lease.js';
import type { Lsn } from './lsn.js';

/**
 * Which objects of a source the garbage collector deletes. Pure: the runner lists the
 * store, this decides.
 *
 * Window = [now − retention, latest]. Every instant in it must stay restorable, so the
 * collector keeps the newest usable snapshot taken at or before the window start (call it
 * K: every instant from its time on restores from it or a newer one), every newer
 * snapshot, and every segment that ends after K's LSN. Older snapshots go (all their
 * objects, the manifest first, so a half-deleted snapshot is never listed as usable), and
 * so do segments whose last LSN is at or before K's. Live leases lower K's LSN to the
 * oldest snapshot a running reader uses; a lease that has not planned yet holds
 * everything. Never deleted: the only snapshot (K itself), the tip, anything at or after K,
 * and, with no snapshot taken at or before the window start, anything at all.
 */
export interface RetentionSnapshot {
  readonly lsn: Lsn;
  /** µs since the Unix epoch (the manifest's snapshotTime) */
  readonly time: bigint;
  /** null: objects under `base/<lsn>/` with no manifest (being written, or half deleted) */
  readonly manifestKey: string | null;
  /** every other object under the snapshot's prefix */
  readonly objects: readonly { readonly key: string; readonly size: number; readonly modifiedMs: number }[];
  readonly manifestSize?: number;
  /** whether a restore may start from it (on the tip's chain: restore-window.ts) */
  readonly usable: boolean;
}

export interface RetentionSegment {
  readonly key: string;
  readonly firstLsn: Lsn;
  readonly lastLsn: Lsn;
  readonly size: number;
}

export interface RetentionInput {
  readonly snapshots: readonly RetentionSnapshot[];
  readonly segments: readonly RetentionSegment[];
  /** the tip's segment key (never deleted), null before the first segment */
  readonly tipSegmentKey: string | null;
  readonly leases: LeaseFloor;
  readonly nowMicros: bigint;
  readonly retentionMicros: bigint;
  /**
   * objects of a snapshot without a manifest are deleted only once the newest of them is
   * this old (a snapshot being written has no manifest yet)
   */
  readonly orphanGraceMicros: bigint;
}

export interface RetentionDeletion {
  readonly key: string;
  readonly size: number;
}

export interface SegmentDeletion extends RetentionDeletion {
  readonly lastLsn: Lsn;
}

export interface SnapshotDeletion {
  readonly lsn: Lsn;
  /** manifest first (null for a snapshot without one), then its other objects */
  readonly keys: readonly RetentionDeletion[];
}

export interface RetentionPlan {
  /** now − retention */
  readonly windowStartMicros: bigint;
  /** the snapshot every instant of the window restores from at the oldest; undefined: none is old enough */
  readonly kept: { readonly lsn: Lsn; readonly time: bigint } | undefined;
  /** objects at or after this LSN are kept (K's LSN, lowered by leases); undefined: nothing is deleted */
  readonly cutoffLsn: Lsn | undefined;
  readonly snapshots: readonly SnapshotDeletion[];
  readonly segments: readonly SegmentDeletion[];
  /** lease holders that kept something the window alone would have let go */
  readonly heldBy: readonly string[];
}

export function planRetention(input: RetentionInput): RetentionPlan {
  const windowStartMicros = input.nowMicros - input.retentionMicros;
  const sorted = [...input.snapshots].sort((a, b) => (a.lsn < b.lsn ? -1 : a.lsn > b.lsn ? 1 : 0));
  let kept: RetentionSnapshot | undefined;
  for (const s of sorted) if (s.usable && s.manifestKey !== null && s.time <= windowStartMicros) kept = s;
  const nothing = (heldBy: readonly string[] = []): RetentionPlan => ({
    windowStartMicros,
    kept: kept ? { lsn: kept.lsn, time: kept.time } : undefined,
    cutoffLsn: undefined,
    snapshots: [],
    segments: [],
    heldBy,
  });
  if (!kept) return nothing();
  if (input.leases.kind === 'all') return nothing(input.leases.holders);
  let cutoff = kept.lsn;
  let heldBy: readonly string[] = [];
  if (input.leases.kind === 'from' && input.leases.floor < cutoff) {
    cutoff = input.leases.floor;
    heldBy = input.leases.holders;
  }
  return {
    windowStartMicros,
    kept: { lsn: kept.lsn, time: kept.time },
    cutoffLsn: cutoff,
    snapshots: snapshotsBefore(sorted, cutoff, input),
    segments: segmentsBefore(input, cutoff),
    heldBy,
  };
}

/** Snapshots wholly before the cutoff, oldest first, each manifest first. */
function snapshotsBefore(
  sorted: readonly RetentionSnapshot[],
  cutoff: Lsn,
  input: RetentionInput,
): SnapshotDeletion[] {
  const out: SnapshotDeletion[] = [];
  for (const s of sorted) {
    if (s.lsn >= cutoff) continue;
    if (s.manifestKey === null) {
      const newest = Math.max(0, ...s.objects.map((o) => o.modifiedMs));
      if (BigInt(newest) * 1000n + input.orphanGraceMicros > input.nowMicros) continue;
    }
    const keys: RetentionDeletion[] = [];
    if (s.manifestKey !== null) keys.push({ key: s.manifestKey, size: s.manifestSize ?? 0 });
    for (const o of s.objects) keys.push({ key: o.key, size: o.size });
    out.push({ lsn: s.lsn, keys });
  }
  return out;
}

/** Segments that end at or before the cutoff, in key (chain) order; never the tip or beyond it. */
function segmentsBefore(input: RetentionInput, cutoff: Lsn): SegmentDeletion[] {
  const tip = input.tipSegmentKey;
  return input.segments
    .filter((s) => s.lastLsn <= cutoff && tip !== null && s.key < tip)
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((s) => ({ key: s.key, size: s.size, lastLsn: s.lastLsn }));
}

/**
 * The part of a planned batch that the leases read just now still allow: what the runner
 * checks before each batch of deletes. A snapshot goes only if it lies before every live
 * lease's snapshot, a segment only if it ends at or before it.
 */
export function snapshotsStillDeletable(
  items: readonly SnapshotDeletion[],
  leases: LeaseFloor,
): SnapshotDeletion[] {
  if (leases.kind === 'all') return [];
  return leases.kind === 'none' ? [...items] : items.filter((i) => i.lsn < leases.floor);
}

export function segmentsStillDeletable(
  items: readonly SegmentDeletion[],
  leases: LeaseFloor,
): SegmentDeletion[] {
  if (leases.kind === 'all') return [];
  return leases.kind === 'none' ? [...items] : items.filter((i) => i.lastLsn <= leases.floor);
}
