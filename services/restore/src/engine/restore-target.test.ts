import { isTidemarkError } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { formatRestoreTarget, isPastTarget, parseRestoreTarget } from './restore-target.js';

describe('parseRestoreTarget', () => {
  it('parses the three forms', () => {
    expect(parseRestoreTarget({ time: '2024-05-01T10:41:07.123456Z' })).toEqual({
      kind: 'time',
      micros: 1_714_560_067_123_456n,
    });
    expect(parseRestoreTarget({ time: '2024-05-01 12:41:07.123456+02' })).toEqual({
      kind: 'time',
      micros: 1_714_560_067_123_456n,
    });
    expect(parseRestoreTarget({ lsn: '16/B374D848' })).toEqual({ kind: 'lsn', lsn: 0x16b374d848n });
    expect(parseRestoreTarget({ latest: true })).toEqual({ kind: 'latest' });
  });

  it.each([
    [null],
    [{}],
    [{ time: 'yesterday' }],
    [{ time: 1 }],
    [{ lsn: '12345' }],
    [{ latest: false }],
    [{ time: '2024-05-01T10:41:07Z', lsn: '0/1' }],
    [{ xid: 5 }],
  ])('answers BAD_REQUEST for %j', (input) => {
    try {
      parseRestoreTarget(input);
      expect.unreachable();
    } catch (err) {
      expect(isTidemarkError(err, 'BAD_REQUEST')).toBe(true);
    }
  });

  it('round-trips to the request form', () => {
    expect(formatRestoreTarget({ kind: 'time', micros: 1_714_560_067_123_456n })).toEqual({
      time: '2024-05-01T10:41:07.123456Z',
    });
    expect(formatRestoreTarget({ kind: 'lsn', lsn: 0x16b374d848n })).toEqual({ lsn: '16/B374D848' });
  });
});

describe('isPastTarget', () => {
  it('is strict: the target instant itself is included', () => {
    const time = { kind: 'time', micros: 100n } as const;
    expect(isPastTarget(time, { commitLsn: 1n, commitTime: 100n })).toBe(false);
    expect(isPastTarget(time, { commitLsn: 1n, commitTime: 101n })).toBe(true);
    const lsn = { kind: 'lsn', lsn: 0x10n } as const;
    expect(isPastTarget(lsn, { commitLsn: 0x10n, commitTime: 0n })).toBe(false);
    expect(isPastTarget(lsn, { commitLsn: 0x11n, commitTime: 0n })).toBe(true);
  });
});
