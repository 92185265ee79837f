import { describe, expect, it } from 'vitest';
import { formatTimestampMicros, parseTimestampMicros } from './time.js';

describe('parseTimestampMicros', () => {
  it('keeps every microsecond', () => {
    expect(parseTimestampMicros('2026-11-23T10:41:07.123456Z')).toBe(1_795_430_467_123_456n);
    expect(parseTimestampMicros('1970-01-01T00:00:00Z')).toBe(0n);
    expect(parseTimestampMicros('1970-01-01T00:00:00.000001Z')).toBe(1n);
    expect(parseTimestampMicros('2026-11-23T10:41:07.1Z')).toBe(1_795_430_467_100_000n);
  });

  it("accepts PostgreSQL's output with a space and short offsets", () => {
    const utc = parseTimestampMicros('2026-11-23T10:41:07.123456Z');
    expect(parseTimestampMicros('2026-11-23 10:41:07.123456+00')).toBe(utc);
    expect(parseTimestampMicros('2026-11-23 12:41:07.123456+02')).toBe(utc);
    expect(parseTimestampMicros('2026-11-23 12:41:07.123456+0200')).toBe(utc);
    expect(parseTimestampMicros('2026-11-23T05:11:07.123456-05:30')).toBe(utc);
    expect(parseTimestampMicros('2026-11-23t10:41:07.123456z')).toBe(utc);
  });

  it('handles dates before 1970', () => {
    expect(parseTimestampMicros('1969-12-31T23:59:59.999999Z')).toBe(-1n);
    expect(parseTimestampMicros('1900-01-01T00:00:00Z')).toBe(-2_208_988_800_000_000n);
    expect(parseTimestampMicros('0001-01-01T00:00:00Z')).toBe(-62_135_596_800_000_000n);
  });

  it('agrees with Date at millisecond precision over many instants', () => {
    for (let i = 0; i < 2000; i++) {
      const ms = Math.floor((Math.random() - 0.5) * 2 * 8e12);
      const iso = new Date(ms).toISOString();
      expect(parseTimestampMicros(iso)).toBe(BigInt(ms) * 1000n);
    }
  });

  it.each([
    ['2026-13-01T00:00:00Z', /month 13/],
    ['2026-02-29T00:00:00Z', /day 29 is not 1-28/],
    ['2026-04-31T00:00:00Z', /day 31/],
    ['2026-01-00T00:00:00Z', /day 0/],
    ['2026-01-01T24:00:00Z', /hour 24/],
    ['2026-01-01T00:60:00Z', /minute 60/],
    ['2026-01-01T00:00:60Z', /second 60/],
    ['2026-01-01T00:00:00.1234567Z', /more than 6 fractional digits/],
    ['2026-01-01T00:00:00+24:00', /offset/],
    ['2026-01-01T00:00:00', /not a timestamp/],
    ['2026-01-01', /not a timestamp/],
    ['', /not a timestamp/],
    ['2026-01-01T00:00:00.Z', /not a timestamp/],
    ['infinity', /not a timestamp/],
  ])('rejects %j', (text, message) => {
    expect(() => parseTimestampMicros(text)).toThrow(RangeError);
    expect(() => parseTimestampMicros(text)).toThrow(message);
  });

  it('accepts 29 February in leap years only', () => {
    expect(() => parseTimestampMicros('2024-02-29T00:00:00Z')).not.toThrow();
    expect(() => parseTimestampMicros('2000-02-29T00:00:00Z')).not.toThrow();
    expect(() => parseTimestampMicros('1900-02-29T00:00:00Z')).toThrow(RangeError);
  });
});

describe('formatTimestampMicros', () => {
  it('always prints 6 fractional digits in UTC', () => {
    expect(formatTimestampMicros(1_795_430_467_123_456n)).toBe('2026-11-23T10:41:07.123456Z');
    expect(formatTimestampMicros(0n)).toBe('1970-01-01T00:00:00.000000Z');
    expect(formatTimestampMicros(-1n)).toBe('1969-12-31T23:59:59.999999Z');
  });

  it('round-trips with the parser, before and after 1970', () => {
    for (let i = 0; i < 2000; i++) {
      const us =
        BigInt(Math.floor((Math.random() - 0.5) * 2 * 6e13)) * 1000n +
        BigInt(Math.floor(Math.random() * 1000));
      expect(parseTimestampMicros(formatTimestampMicros(us))).toBe(us);
    }
    for (const us of [-62_135_596_800_000_000n, 253_402_300_799_999_999n]) {
      expect(parseTimestampMicros(formatTimestampMicros(us))).toBe(us);
    }
  });

  it('refuses years it cannot print in 4 digits', () => {
    expect(() => formatTimestampMicros(253_402_300_800_000_000n)).toThrow(RangeError);
    expect(() => formatTimestampMicros(-62_167_219_200_000_001n)).toThrow(RangeError);
  });
});
