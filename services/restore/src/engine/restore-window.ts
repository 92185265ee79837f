import {
  formatLsn,
  formatTimestampMicros,
  type Lsn,
  type MicrosSinceEpoch,
  parseLsn,
  type SnapshotManifest,
  TidemarkError,
  type TipDocument,
} from '@tidemark/shared';
import type { RestoreTarget } from './restore-target.js';

/**
 * The restorable window of a source. Pure.
 *
 * The journal is the hash chain that ends at the tip and starts at the snapshot the tip
 * names (`tip.snapshotLsn`). Snapshots are usable when they lie on that chain (LSN between
 * its start and the tip). With no tip yet there are no journaled segments, and only the
 * newest snapshot describes the present, so it alone is usable: an older one restored
 * "to a later time" would silently miss the unjournaled transactions in between.
 */
export type SnapshotInfo = SnapshotManifest & {
  /** key of manifest.json */
  readonly manifestKey: string;
  /** SHA-256 (hex) of the manifest.json bytes: where the hash chain starts */
  readonly sha256: string;
};

export interface RestoreWindow {
  /** usable snapshots, oldest first */
  readonly snapshots: readonly SnapshotInfo[];
  readonly earliestTime: MicrosSinceEpoch;
  readonly latestTime: MicrosSinceEpoch;
  readonly earliestLsn: Lsn;
  readonly latestLsn: Lsn;
}

export function restoreWindow(
  snapshots: readonly SnapshotInfo[],
  tip: TipDocument | null,
): RestoreWindow | undefined {
  const sorted = [...snapshots].sort((a, b) => cmp(parseLsn(a.lsn), parseLsn(b.lsn)));
  let usable: SnapshotInfo[];
  if (tip) {
    const start = parseLsn(tip.snapshotLsn);
    const end = parseLsn(tip.lastLsn);
    usable = sorted.filter((s) => parseLsn(s.lsn) >= start && parseLsn(s.lsn) <= end);
  } else {
    usable = sorted.slice(-1);
  }
  const first = usable[0];
  const last = usable[usable.length - 1];
  if (!first || !last) return undefined;
  const newestSnapshotTime = BigInt(last.snapshotTime);
  const tipTime = tip ? BigInt(tip.lastCommitTime) : newestSnapshotTime;
  return {
    snapshots: usable,
    earliestTime: BigInt(first.snapshotTime),
    latestTime: tipTime > newestSnapshotTime ? tipTime : newestSnapshotTime,
    earliestLsn: parseLsn(first.lsn),
    latestLsn: tip ? parseLsn(tip.lastLsn) : parseLsn(last.lsn),
  };
}

/** Throws TARGET_BEFORE_WINDOW / TARGET_AFTER_WINDOW; the check `submit` runs synchronously. */
export function checkTargetInWindow(
  source: string,
  window: RestoreWindow | undefined,
  target: RestoreTarget,
): void {
  if (!window) {
    throw new TidemarkError(
      'TARGET_AFTER_WINDOW',
      `source ${source} has no base snapshot on its journal yet, so nothing is restorable; wait until capture has written the first snapshot`,
      { details: { source } },
    );
  }
  const range = `${formatTimestampMicros(window.earliestTime)} to ${formatTimestampMicros(window.latestTime)}`;
  const lsnRange = `${formatLsn(window.earliestLsn)} to ${formatLsn(window.latestLsn)}`;
  const details = {
    source,
    earliestRestorableTime: formatTimestampMicros(window.earliestTime),
    latestRestorableTime: formatTimestampMicros(window.latestTime),
    earliestLsn: formatLsn(window.earliestLsn),
    latestLsn: formatLsn(window.latestLsn),
  };
  if (target.kind === 'time') {
    const at = formatTimestampMicros(target.micros);
    if (target.micros < window.earliestTime)
      throw new TidemarkError(
        'TARGET_BEFORE_WINDOW',
        `${at} is before the restorable window of source ${source} (${range}): the oldest base snapshot was taken at ${formatTimestampMicros(window.earliestTime)}`,
        { details },
      );
    if (target.micros > window.latestTime)
      throw new TidemarkError(
        'TARGET_AFTER_WINDOW',
        `${at} is after the latest archived commit of source ${source} (restorable: ${range}); transactions up to that time may not be archived yet, so retry later or choose a time inside the window`,
        { details },
      );
  } else if (target.kind === 'lsn') {
    const at = formatLsn(target.lsn);
    if (target.lsn < window.earliestLsn)
      throw new TidemarkError(
        'TARGET_BEFORE_WINDOW',
        `LSN ${at} is before the restorable window of source ${source} (LSN ${lsnRange}): the oldest base snapshot is at ${formatLsn(window.earliestLsn)}`,
        { details },
      );
    if (target.lsn > window.latestLsn)
      throw new TidemarkError(
        'TARGET_AFTER_WINDOW',
        `LSN ${at} is after the latest archived commit of source ${source} (LSN ${lsnRange}); retry later or choose an LSN inside the window`,
        { details },
      );
  }
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
