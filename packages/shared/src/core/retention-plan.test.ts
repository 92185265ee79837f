import { describe, expect, it } from 'vitest';
import { leaseFloor } from './journal-lease.js';
import {
  planRetention,
  type RetentionInput,
  segmentsStillDeletable,
  snapshotsStillDeletable,
} from './retention-plan.js';

const H = 3_600_000_000n; // an hour in µs
const snap = (lsn: bigint, time: bigint, usable = true) => ({
  lsn,
  time,
  manifestKey: `m/base/${lsn.toString(16).toUpperCase().padStart(16, '0')}/manifest.json`,
  manifestSize: 10,
  objects: [
    {
      key: `m/base/${lsn.toString(16).toUpperCase().padStart(16, '0')}/tables/0000.copy`,
      size: 100,
      modifiedMs: 0,
    },
  ],
  usable,
});
const seg = (first: bigint, last: bigint) => ({
  key: `m/segments/2024/05/01/10/${first.toString(16).toUpperCase().padStart(16, '0')}-${last.toString(16).toUpperCase().padStart(16, '0')}.seg`,
  firstLsn: first,
  lastLsn: last,
  size: 1000,
});
const segments = [seg(0x110n, 0x1f0n), seg(0x200n, 0x2f0n), seg(0x300n, 0x3f0n), seg(0x400n, 0x4f0n)];
const base = (over: Partial<RetentionInput> = {}): RetentionInput => ({
  snapshots: [snap(0x100n, 1n * H), snap(0x2f0n, 5n * H), snap(0x3f0n, 8n * H)],
  segments,
  tipSegmentKey: segments[3]!.key,
  leases: { kind: 'none' },
  nowMicros: 20n * H,
  retentionMicros: 13n * H, // window starts at 7 h
  orphanGraceMicros: H,
  ...over,
});

describe('planRetention', () => {
  it('keeps the newest snapshot at or before the window start and everything after it', () => {
    const plan = planRetention(base());
    expect(plan.kept).toEqual({ lsn: 0x2f0n, time: 5n * H });
    expect(plan.snapshots.map((s) => s.lsn)).toEqual([0x100n]);
    // manifest first
    expect(plan.snapshots[0]!.keys[0]!.key).toMatch(/manifest\.json$/);
    expect(plan.segments.map((s) => s.lastLsn)).toEqual([0x1f0n, 0x2f0n]);
  });

  it('deletes nothing while no snapshot is as old as the window start', () => {
    const plan = planRetention(base({ retentionMicros: 19n * H + 1n }));
    expect(plan.kept).toBeUndefined();
    expect(plan.snapshots).toEqual([]);
    expect(plan.segments).toEqual([]);
  });

  it('never deletes the only snapshot or the tip, even far outside the window', () => {
    const plan = planRetention(
      base({ snapshots: [snap(0x4f0n, 1n * H)], nowMicros: 1000n * H, retentionMicros: H }),
    );
    expect(plan.snapshots).toEqual([]);
    expect(plan.segments.map((s) => s.key)).not.toContain(segments[3]!.key);
    expect(plan.segments).toHaveLength(3);
  });

  it('lowers the cutoff to the oldest snapshot a live lease holds, and holds all for an unplanned lease', () => {
    const leases = leaseFloor(
      [
        { key: 'a', holder: 'r_a', snapshotLsn: 0x100n, expiresAtMs: 1000 },
        { key: 'b', holder: 'r_b', snapshotLsn: 0x3f0n, expiresAtMs: 1000 },
        { key: 'c', holder: 'r_dead', snapshotLsn: null, expiresAtMs: 10 },
      ],
      500,
      100,
    );
    const plan = planRetention(base({ leases }));
    expect(plan.snapshots).toEqual([]);
    expect(plan.segments.map((s) => s.lastLsn)).toEqual([]);
    expect(plan.heldBy).toEqual(['r_a', 'r_b']);
    const pinned = leaseFloor([{ key: 'c', holder: 'r_new', snapshotLsn: null, expiresAtMs: 1000 }], 500, 0);
    expect(planRetention(base({ leases: pinned })).segments).toEqual([]);
    // unreadable leases pin everything too
    expect(leaseFloor([{ key: 'x', unreadable: true }], 0, 0).kind).toBe('all');
  });

  it('re-checks a batch against leases read later', () => {
    const plan = planRetention(base());
    const later = { kind: 'from', floor: 0x1f0n, holders: ['r_late'] } as const;
    expect(segmentsStillDeletable(plan.segments, later).map((s) => s.lastLsn)).toEqual([0x1f0n]);
    expect(snapshotsStillDeletable(plan.snapshots, later).map((s) => s.lsn)).toEqual([0x100n]);
    expect(snapshotsStillDeletable(plan.snapshots, { kind: 'from', floor: 0x100n, holders: [] })).toEqual([]);
    expect(segmentsStillDeletable(plan.segments, { kind: 'all', holders: [] })).toEqual([]);
  });

  it('leaves a snapshot without a manifest alone while it may still be being written', () => {
    const orphan = {
      ...snap(0x150n, 0n, false),
      manifestKey: null,
      objects: [{ key: 'o', size: 1, modifiedMs: 19.5 * 3_600_000 }],
    };
    expect(
      planRetention(base({ snapshots: [...base().snapshots, orphan] })).snapshots.map((s) => s.lsn),
    ).toEqual([0x100n]);
    const old = { ...orphan, objects: [{ key: 'o', size: 1, modifiedMs: 3_600_000 }] };
    expect(
      planRetention(base({ snapshots: [...base().snapshots, old] })).snapshots.map((s) => s.lsn),
    ).toEqual([0x100n, 0x150n]);
  });

  it('only keeps usable snapshots as the window anchor', () => {
    const plan = planRetention(base({ snapshots: [snap(0x100n, 1n * H), snap(0x2f0n, 5n * H, false)] }));
    expect(plan.kept?.lsn).toBe(0x100n);
    expect(plan.snapshots).toEqual([]);
  });
});
