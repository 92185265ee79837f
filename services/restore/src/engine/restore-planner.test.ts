import { formatLsn, isTidemarkError, parseLsn, segmentKey, type TipDocument } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { planRestore } from './restore-planner.js';
import { checkTargetInWindow, restoreWindow, type SnapshotInfo } from './restore-window.js';
import { column, manifest, table } from './testing/manifest-fixture.js';

const HOUR = 3_600_000_000n;
const T0 = 1_714_557_600_000_000n; // 2024-05-01T10:00:00Z

const snap = (lsn: string, time: bigint): SnapshotInfo => ({
  ...manifest([], { lsn, snapshotTime: String(time) }),
  manifestKey: `app/base/${parseLsn(lsn).toString(16).toUpperCase().padStart(16, '0')}/manifest.json`,
  sha256: `${lsn.replace('/', '')}`.padEnd(64, '0').toLowerCase(),
});
const seg = (hour: bigint, first: bigint, last: bigint) => segmentKey('app', hour, first, last);

const S1 = snap('0/1000', T0);
// segments: 10:xx [0x1100..0x1F00], 11:xx [0x2000..0x2F00], 12:xx [0x3000..0x3F00]
const keys = [
  seg(T0, 0x1100n, 0x1f00n),
  seg(T0 + HOUR, 0x2000n, 0x2f00n),
  seg(T0 + 2n * HOUR, 0x3000n, 0x3f00n),
];
const orphan = seg(T0 + 3n * HOUR, 0x4000n, 0x4f00n);
const tip: TipDocument = {
  formatVersion: 1,
  source: 'app',
  segmentKey: keys[2]!,
  firstLsn: '0/3000',
  lastLsn: '0/3F00',
  lastCommitTime: String(T0 + 2n * HOUR + 600_000_000n),
  sha256: 'f'.repeat(64),
  snapshotLsn: '0/1000',
  updatedAt: '2024-05-01T12:10:00Z',
};

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return isTidemarkError(err) ? err.code : 'other';
  }
  return undefined;
}

describe('restoreWindow', () => {
  it('spans the chain-start snapshot to the tip', () => {
    const w = restoreWindow([S1], tip)!;
    expect(w.earliestTime).toBe(T0);
    expect(w.latestTime).toBe(T0 + 2n * HOUR + 600_000_000n);
    expect(formatLsn(w.latestLsn)).toBe('0/3F00');
  });
  it('is the newest snapshot alone before the first segment', () => {
    const old = snap('0/500', T0 - HOUR);
    const w = restoreWindow([old, S1], null)!;
    expect(w.snapshots).toEqual([S1]);
    expect(w.earliestTime).toBe(T0);
    expect(w.latestTime).toBe(T0);
  });
  it('ignores snapshots of an older chain', () => {
    const old = snap('0/500', T0 - HOUR);
    expect(restoreWindow([old, S1], tip)!.snapshots).toEqual([S1]);
  });
  it('is undefined without snapshots', () => {
    expect(restoreWindow([], tip)).toBeUndefined();
    expect(codeOf(() => checkTargetInWindow('app', undefined, { kind: 'latest' }))).toBe(
      'TARGET_AFTER_WINDOW',
    );
  });
});

describe('planRestore', () => {
  const base = { source: 'app', snapshots: [S1], tip, segmentKeys: [...keys, orphan] };

  it('plans latest: every segment up to the tip, none beyond, stop at the tip LSN', () => {
    const plan = planRestore({ ...base, target: { kind: 'latest' } });
    expect(plan.segmentKeys).toEqual(keys);
    expect(plan.stopRule).toEqual({ kind: 'lsn', lsn: 0x3f00n });
    expect(plan.chainAnchor).toBe(S1.sha256);
    expect(plan.tip).toEqual({ segmentKey: keys[2], sha256: tip.sha256 });
    expect(plan.snapshotLsn).toBe(0x1000n);
  });

  it('plans an LSN target: segments up to the one holding it', () => {
    const plan = planRestore({ ...base, target: { kind: 'lsn', lsn: 0x2100n } });
    expect(plan.segmentKeys).toEqual(keys.slice(0, 2));
    expect(plan.stopRule).toEqual({ kind: 'lsn', lsn: 0x2100n });
    expect(plan.tip).toBeNull();
  });

  it('plans a time target: leaves out segments filed in hours wholly after it', () => {
    const plan = planRestore({ ...base, target: { kind: 'time', micros: T0 + HOUR + 5n } });
    expect(plan.segmentKeys).toEqual(keys.slice(0, 2));
    expect(plan.stopRule).toEqual({ kind: 'time', micros: T0 + HOUR + 5n });
  });

  it('restores to the snapshot instant itself', () => {
    const plan = planRestore({ ...base, target: { kind: 'time', micros: T0 } });
    expect(plan.snapshot).toBe(S1);
    expect(plan.segmentKeys).toEqual(keys.slice(0, 1));
  });

  it('picks the newest usable snapshot at or before the target', () => {
    const S2 = snap('0/2800', T0 + HOUR + 30n * 60_000_000n);
    const early = planRestore({ ...base, snapshots: [S1, S2], target: { kind: 'time', micros: T0 + HOUR } });
    expect(early.snapshot).toBe(S1);
    const late = planRestore({ ...base, snapshots: [S1, S2], target: { kind: 'latest' } });
    expect(late.snapshot).toBe(S2);
    expect(late.segmentKeys).toEqual(keys.slice(1)); // the 11:xx segment straddles 0/2800
    expect(late.chainAnchor).toBeNull(); // mid-chain: its first segment links to a segment
  });

  it('rejects targets outside the window with messages quoting it', () => {
    const before = () => planRestore({ ...base, target: { kind: 'time', micros: T0 - 1n } });
    expect(codeOf(before)).toBe('TARGET_BEFORE_WINDOW');
    expect(before).toThrow(/2024-05-01T10:00:00(\.0+)?Z to 2024-05-01T12:10:00/);
    expect(codeOf(() => planRestore({ ...base, target: { kind: 'time', micros: T0 + 3n * HOUR } }))).toBe(
      'TARGET_AFTER_WINDOW',
    );
    expect(codeOf(() => planRestore({ ...base, target: { kind: 'lsn', lsn: 0xfffn } }))).toBe(
      'TARGET_BEFORE_WINDOW',
    );
    expect(codeOf(() => planRestore({ ...base, target: { kind: 'lsn', lsn: 0x3f01n } }))).toBe(
      'TARGET_AFTER_WINDOW',
    );
    expect(codeOf(() => planRestore({ ...base, target: { kind: 'lsn', lsn: 0x3f00n } }))).toBeUndefined();
  });

  it('plans an xid target from the oldest usable snapshot up to the tip, stopping at the transaction', () => {
    const S2 = snap('0/2800', T0 + HOUR + 30n * 60_000_000n);
    const plan = planRestore({
      ...base,
      snapshots: [S1, S2],
      target: { kind: 'xid', xid: 7411, inclusive: false },
    });
    // the transaction may have committed anywhere in the window: start from the oldest snapshot
    expect(plan.snapshot).toBe(S1);
    expect(plan.segmentKeys).toEqual(keys);
    expect(plan.stopRule).toEqual({ kind: 'lsn', lsn: 0x3f00n });
    expect(plan.transactionStop).toEqual({ xid: 7411, inclusive: false });
    expect(plan.restorePoint).toBeNull();
  });

  it('plans a restore point target as the LSN of its transaction', () => {
    const restorePoint = { name: 'rp', commitLsn: 0x2100n, commitTime: T0 + HOUR, xid: 9 };
    const plan = planRestore({ ...base, target: { kind: 'restorePoint', name: 'rp' }, restorePoint });
    expect(plan.segmentKeys).toEqual(keys.slice(0, 2));
    expect(plan.stopRule).toEqual({ kind: 'lsn', lsn: 0x2100n });
    expect(plan.restorePoint).toBe(restorePoint);
    expect(plan.transactionStop).toBeNull();
    const early = { ...restorePoint, commitLsn: 0xf00n };
    expect(
      codeOf(() =>
        planRestore({ ...base, target: { kind: 'restorePoint', name: 'rp' }, restorePoint: early }),
      ),
    ).toBe('TARGET_BEFORE_WINDOW');
    expect(() => planRestore({ ...base, target: { kind: 'restorePoint', name: 'rp' } })).toThrow(
      /must be resolved/,
    );
  });

  it('knows the bytes it will read: snapshot table data plus the listed segment sizes', () => {
    const withData: SnapshotInfo = {
      ...S1,
      tables: [
        table('public', 'a', [column('x')], { dataKey: 'k', bytes: 700 }),
        table('public', 'b', [column('x')]),
      ],
    };
    const sizes = new Map(keys.map((k, i) => [k, 1000 * (i + 1)]));
    const plan = planRestore({
      ...base,
      snapshots: [withData],
      segmentSizes: sizes,
      target: { kind: 'latest' },
    });
    expect(plan.segmentSizes).toEqual([1000, 2000, 3000]);
    expect(plan.totalBytes).toBe(700 + 6000);
    const partial = planRestore({ ...base, target: { kind: 'lsn', lsn: 0x2100n } });
    expect(partial.segmentSizes).toEqual([0, 0]);
    expect(partial.totalBytes).toBe(0);
  });

  it('plans no segments before the first one is written', () => {
    const plan = planRestore({ ...base, tip: null, target: { kind: 'latest' } });
    expect(plan.segmentKeys).toEqual([]);
    expect(plan.stopRule).toEqual({ kind: 'lsn', lsn: 0x1000n });
  });
});
