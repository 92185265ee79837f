import { parseLsn, type RetentionDuration, type TipDocument } from '@tidemark/shared';
import { restoreWindow, type SnapshotInfo } from './restore-window.js';

/**
 * The snapshots a restore may start from under a retention: the newest usable one taken
 * at or before `now − retention` (so every instant of the window restores from it or a
 * newer one) and every newer one. Older snapshots are out of the window even before the
 * garbage collector deletes them: a restore never plans on a snapshot a collection running
 * at the same moment may be deleting (docs/architecture.md, "Retention and GC"). Pure.
 */
export function snapshotsInRetention(
  snapshots: readonly SnapshotInfo[],
  tip: TipDocument | null,
  retention: RetentionDuration | null | undefined,
  nowMs: number,
): readonly SnapshotInfo[] {
  if (!retention) return snapshots;
  const windowStart = BigInt(nowMs - retention.ms) * 1000n;
  const usable = restoreWindow(snapshots, tip)?.snapshots ?? [];
  let kept: SnapshotInfo | undefined;
  for (const s of usable) if (BigInt(s.snapshotTime) <= windowStart) kept = s;
  if (!kept) return snapshots;
  const floor = parseLsn(kept.lsn);
  return snapshots.filter((s) => parseLsn(s.lsn) >= floor);
}
