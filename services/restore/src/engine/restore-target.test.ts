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

  it('parses xid targets: number or string, inclusive by default, 64-bit ids reduced to the xid', () => {
    expect(parseRestoreTarget({ xid: 74211 })).toEqual({ kind: 'xid', xid: 74211, inclusive: true });
    expect(parseRestoreTarget({ xid: '74211', inclusive: false })).toEqual({
      kind: 'xid',
      xid: 74211,
      inclusive: false,
    });
    // pg_current_xact_id() of epoch 3: 3 * 2^32 + 74211
    expect(parseRestoreTarget({ xid: String(3n * 2n ** 32n + 74211n) })).toMatchObject({ xid: 74211 });
    expect(parseRestoreTarget({ xid: 4_294_967_295 })).toMatchObject({ xid: 4_294_967_295 });
  });

  it('parses restore point targets', () => {
    expect(parseRestoreTarget({ restorePoint: 'before-deploy_1.2:3' })).toEqual({
      kind: 'restorePoint',
      name: 'before-deploy_1.2:3',
    });
  });

  it.each([
    [null],
    [{}],
    [{ time: 'yesterday' }],
    [{ time: 1 }],
    [{ lsn: '12345' }],
    [{ latest: false }],
    [{ time: '2024-05-01T10:41:07Z', lsn: '0/1' }],
    [{ xid: 2 }],
    [{ xid: 'five' }],
    [{ xid: 5.5 }],
    [{ xid: -7 }],
    [{ xid: '18446744073709551616' }],
    [{ xid: 5, inclusive: 'yes' }],
    [{ xid: 5, lsn: '0/1' }],
    [{ inclusive: true }],
    [{ restorePoint: '' }],
    [{ restorePoint: 'no spaces' }],
    [{ restorePoint: 'x'.repeat(64) }],
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
    expect(formatRestoreTarget(parseRestoreTarget({ xid: '12' }))).toEqual({ xid: 12, inclusive: true });
    expect(formatRestoreTarget(parseRestoreTarget({ restorePoint: 'rp' }))).toEqual({ restorePoint: 'rp' });
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
