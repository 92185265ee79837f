import { type Lsn, parseLsn, parseSegmentKey, type TipDocument } from '@tidemark/shared';
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
  /** the tip's segment and hash when the plan reads up to it: the last link is checked against the tip */
  readonly tip: { readonly segmentKey: string; readonly sha256: string } | null;
  readonly target: RestoreTarget;
  readonly stopRule: StopRule;
  readonly window: RestoreWindow;
}

export interface PlanInput {
  readonly source: string;
  readonly snapshots: readonly SnapshotInfo[];
  readonly tip: TipDocument | null;
  /** segment keys up to the tip, as listed (any order) */
  readonly segmentKeys: readonly string[];
  readonly target: RestoreTarget;
}

export function planRestore(input: PlanInput): RestorePlan {
  const { source, tip, target } = input;
  const window = restoreWindow(input.snapshots, tip);
  checkTargetInWindow(source, window, target);
  if (!window) throw new Error('unreachable: checkTargetInWindow accepts no missing window');

  // newest usable snapshot at or before the target
  const candidates = window.snapshots.filter((s) =>
    target.kind === 'time'
      ? BigInt(s.snapshotTime) <= target.micros
      : target.kind === 'lsn'
        ? parseLsn(s.lsn) <= target.lsn
        : true,
  );
  const snapshot = candidates[candidates.length - 1];
  if (!snapshot) throw new Error('unreachable: the window check guarantees a snapshot');
  const snapshotLsn = parseLsn(snapshot.lsn);

  const stopRule: StopRule =
    target.kind === 'time'
      ? { kind: 'time', micros: target.micros }
      : target.kind === 'lsn'
        ? { kind: 'lsn', lsn: target.lsn }
        : { kind: 'lsn', lsn: window.latestLsn };

  const segmentKeys = tip ? selectSegments(source, input.segmentKeys, tip, snapshotLsn, stopRule) : [];
  const isChainStart = !tip || parseLsn(tip.snapshotLsn) === snapshotLsn;
  const last = segmentKeys[segmentKeys.length - 1];
  return {
    source,
    snapshot,
    snapshotLsn,
    chainAnchor: isChainStart ? snapshot.sha256 : null,
    segmentKeys,
    tip: tip && last === tip.segmentKey ? { segmentKey: tip.segmentKey, sha256: tip.sha256 } : null,
    target,
    stopRule,
    window,
  };
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
