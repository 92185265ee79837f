import { isTidemarkError, segmentKey } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { parseRange, selectRange } from './verification-range.js';

const HOUR = 3_600_000_000n;
const T0 = 1_714_557_600_000_000n; // 2024-05-01T10:00:00Z
// six segments, two per hour from 10:00
const listed = Array.from({ length: 6 }, (_, i) => ({
  key: segmentKey(
    'app',
    T0 + BigInt(Math.floor(i / 2)) * HOUR,
    BigInt(0x1000 + i * 0x100 + 1),
    BigInt(0x1000 + i * 0x100 + 0x80),
  ),
  size: 10,
}));
const keys = (from?: string, to?: string) =>
  selectRange(listed, parseRange({ ...(from ? { from } : {}), ...(to ? { to } : {}) })).map((s) =>
    listed.indexOf(s),
  );

describe('verification ranges', () => {
  it('selects by LSN exactly, with one neighbour on each side', () => {
    expect(keys('0/1201', '0/1280')).toEqual([1, 2, 3]);
    expect(keys(undefined, '0/1001')).toEqual([0, 1]);
    expect(keys('0/1501')).toEqual([4, 5]);
    expect(keys()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('selects by time through the hour partitions', () => {
    // segment 1 (10:00) may run into 11:xx; segment 3 is the last of 11:00; 0 and 4 are the neighbours
    expect(keys('2024-05-01T11:10:00Z', '2024-05-01T11:20:00.000001Z')).toEqual([0, 1, 2, 3, 4]);
    // the last segment may hold later commits than its hour says: it is read, with its neighbour
    expect(keys('2024-05-01T13:00:00Z')).toEqual([4, 5]);
    expect(keys(undefined, '2024-05-01T09:00:00Z')).toEqual([]);
  });

  it('refuses what is neither a time nor an LSN, and a range that ends before it starts', () => {
    expect(() => parseRange({ from: 'yesterday' })).toThrow(/from: "yesterday" is neither/);
    try {
      parseRange({ from: '0/2000', to: '0/1000' });
      expect.unreachable();
    } catch (err) {
      expect(isTidemarkError(err, 'BAD_REQUEST')).toBe(true);
    }
  });
});
