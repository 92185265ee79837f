import {
  type Lsn,
  parseLsn,
  parseSegmentKey,
  snapshotChainAnchor,
  snapshotKindOf,
  TidemarkError,
  type TipDocument,
} from '@tidemark/shared';
import type { RestoreTarget, StopRule } from './restore-target.js';
import {
  checkTargetInWindow,
  type RestoreWindow,
  restoreWindow,
  type SnapshotInfo,
} from './restore-window.js';

/**
 * Which snapshot and which segments a restore needs, and where it stops. Pure: the
 * catalog gathers the inputs, the planner only decides. Which snapshots are usable and
 * what the restorable window is: restore-window.ts.
 */
export interface RestorePlan {
  readonly source: string;
  readonly snapshot: SnapshotInfo;
  readonly snapshotLsn: Lsn;
  /**
   * the prevSha256 the first segment must carry: the manifest's SHA-256 when the snapshot
   * starts the chain; null for a snapshot in the middle of the chain, whose first
   * segment links to a predecessor the plan does not read (its own checksums still hold)
   */
  readonly chainAnchor: string | null;
  /** segments to read, in chain order */
  readonly segmentKeys: readonly string[];
  /** size in bytes of each segment of `segmentKeys` (0 where the listing did not say) */
  readonly segmentSizes: readonly number[];
  /** bytes of table data in the snapshot plus bytes of the segments: what a restore reads */
  readonly totalBytes: number;
  /** the tip's segment and hash when the plan reads up to it: the last link is checked against the tip */
  readonly tip: { readonly segmentKey: string; readonly sha256: string } | null;
  readonly target: RestoreTarget;
  /** where the replay ends at the latest (for an xid target: the tip) */
  readonly stopRule: StopRule;
  /** for an xid target: the transaction that ends the replay, found while replaying */
  readonly transactionStop: { readonly xid: number; readonly inclusive: boolean } | null;
  /** for a restore point target: the restore point as the journal has it */
  readonly restorePoint: ResolvedRestorePoint | null;
  readonly window: RestoreWindow;
}

/** A named restore point found in the journal: the transaction that carries its message. */
export interface ResolvedRestorePoint {
  readonly name: string;
  readonly commitLsn: Lsn;
  readonly commitTime: bigint;
  readonly xid: number;
}

export interface PlanInput {
  readonly source: string;
  readonly snapshots: readonly SnapshotInfo[];
  readonly tip: TipDocument | null;
  /** segment keys up to the tip, as listed (any order) */
  readonly segmentKeys: readonly string[];
  /** sizes of the listed segments, by key, when the listing gave them */
  readonly segmentSizes?: ReadonlyMap<string, number>;
  readonly target: RestoreTarget;
  /** required for a restorePoint target: where the journal has it (JournalCatalog.findRestorePoint) */
  readonly restorePoint?: ResolvedRestorePoint;
  /**
   * manifest keys of snapshots that failed verification: never chosen (snapshot-choice.ts);
   * a map also gives each one's damaged object keys, named by the error when none is left
   */
  readonly excludeSnapshots?: ReadonlySet<string> | ReadonlyMap<string, readonly string[]>;
}

export function planRestore(input: PlanInput): RestorePlan {
  const { source, tip, target } = input;
  const window = restoreWindow(input.snapshots, tip);
  let restorePoint: ResolvedRestorePoint | null = null;
  if (target.kind === 'restorePoint') {
    if (!input.restorePoint || input.restorePoint.name !== target.name)
      throw new Error(`unreachable: restore point ${target.name} must be resolved before planning`);
    restorePoint = input.restorePoint;
  }
  // a restore point is an LSN target once resolved: the same window check, snapshot and stop
  const position: RestoreTarget = restorePoint ? { kind: 'lsn', lsn: restorePoint.commitLsn } : target;
  checkTargetInWindow(source, window, position);
  if (!window) throw new Error('unreachable: checkTargetInWindow accepts no missing window');

  // newest usable snapshot at or before the target; an xid may have committed anywhere
  // in the window, so its restore starts from the oldest
  const eligible = window.snapshots.filter((s) => !input.excludeSnapshots?.has(s.manifestKey));
  const candidates = eligible.filter((s) =>
    position.kind === 'time'
      ? BigInt(s.snapshotTime) <= position.micros
      : position.kind === 'lsn'
        ? parseLsn(s.lsn) <= position.lsn
        : true,
  );
  const snapshot = position.kind === 'xid' ? candidates[0] : candidates[candidates.length - 1];
  if (!snapshot) {
    if (eligible.length < window.snapshots.length)
      throw noVerifiedSnapshot(source, window.snapshots, eligible, input.excludeSnapshots);
    throw new Error('unreachable: the window check guarantees a snapshot');
  }
  const snapshotLsn = parseLsn(snapshot.lsn);

  const stopRule: StopRule =
    position.kind === 'time'
      ? { kind: 'time', micros: position.micros }
      : position.kind === 'lsn'
        ? { kind: 'lsn', lsn: position.lsn }
        : { kind: 'lsn', lsn: window.latestLsn };

  const segmentKeys = tip ? selectSegments(source, input.segmentKeys, tip, snapshotLsn, stopRule) : [];
  const segmentSizes = segmentKeys.map((k) => input.segmentSizes?.get(k) ?? 0);
  const snapshotBytes = snapshotDataBytes({ snapshot });
  const isChainStart = !tip || parseLsn(tip.snapshotLsn) === snapshotLsn;
  const last = segmentKeys[segmentKeys.length - 1];
  return {
    source,
    snapshot,
    snapshotLsn,
    // a compacted snapshot sits inside the chain: the next segment links to its anchor segment
    chainAnchor: isChainStart
      ? snapshot.sha256
      : snapshotKindOf(snapshot) === 'compacted'
        ? snapshotChainAnchor(snapshot, snapshot.sha256).sha256
        : null,
    segmentKeys,
    segmentSizes,
    totalBytes: snapshotBytes + segmentSizes.reduce((a, b) => a + b, 0),
    tip: tip && last === tip.segmentKey ? { segmentKey: tip.segmentKey, sha256: tip.sha256 } : null,
    target,
    stopRule,
    transactionStop: target.kind === 'xid' ? { xid: target.xid, inclusive: target.inclusive } : null,
    restorePoint,
    window,
  };
}

/** Bytes of table data in the plan's snapshot. */
export function snapshotDataBytes(plan: Pick<RestorePlan, 'snapshot'>): number {
  return plan.snapshot.tables.reduce((sum, t) => sum + (t.dataKey === null ? 0 : t.bytes), 0);
}

/**
 * Segments that may hold a record to apply: after the snapshot, not beyond the tip, and
 * not wholly past the stop rule. For an LSN rule the key's first LSN decides. For a time
 * rule the key's hour partition decides: a segment is filed under the hour of its first
 * commit, or its predecessor's hour if that is later (docs/architecture.md). So the first
 * segment in chain order whose hour starts after T was filed by its own first commit,
 * which is after T: replay stops at its first record, and it and everything after it can
 * be left unread. Other segments are read and the replay stops inside them.
 */
function selectSegments(
  source: string,
  keys: readonly string[],
  tip: TipDocument,
  snapshotLsn: Lsn,
  stop: StopRule,
): string[] {
  const out: string[] = [];
  // keys are ASCII, so code-unit order is the store's byte order, which is chain order
  for (const key of [...keys].sort(byCodeUnit)) {
    if (key > tip.segmentKey) break;
    const parsed = parseSegmentKey(key);
    if (!parsed || parsed.source !== source) continue;
    if (parsed.lastLsn <= snapshotLsn) continue;
    if (stop.kind === 'lsn' && parsed.firstLsn > stop.lsn) break;
    if (stop.kind === 'time' && parsed.partitionHourMicros > stop.micros) break;
    out.push(key);
  }
  return out;
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function noVerifiedSnapshot(
  source: string,
  all: readonly SnapshotInfo[],
  eligible: readonly SnapshotInfo[],
  excluded: PlanInput['excludeSnapshots'],
): TidemarkError {
  const failed = all.filter((s) => !eligible.includes(s));
  const skipped = failed.map((s) => s.lsn);
  // newest snapshot first: the one a restore would have used
  const damaged = excluded instanceof Map ? (excluded as ReadonlyMap<string, readonly string[]>) : undefined;
  const damagedKeys = failed.toReversed().flatMap((s) => damaged?.get(s.manifestKey) ?? []);
  const key = damagedKeys[0];
  return new TidemarkError(
    'SNAPSHOT_CORRUPT',
    `source ${source} has no snapshot at or before the target that passes verification (failed: ${skipped.join(', ')}` +
      `${key ? `; damaged: ${damagedKeys.join(', ')}` : ''}); ` +
      'restore to a time after a snapshot that verifies, or repair the store',
    {
      details: { source, skippedSnapshots: skipped, ...(key ? { key, damagedKeys } : {}) },
    },
  );
}
