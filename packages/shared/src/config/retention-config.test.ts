import { describe, expect, it } from 'vitest';
import { isTidemarkError } from '../core/errors.js';
import { parseRetentionDuration } from '../core/retention-duration.js';
import { objectLockDays, retentionOf } from './retention-config.js';
import { loadConfig } from './tidemark-config.js';

describe('retention settings', () => {
  it('parses durations with units s, m, h, d, w and refuses the rest', () => {
    expect(parseRetentionDuration('7d')).toEqual({ text: '7d', ms: 7 * 86_400_000 });
    expect(parseRetentionDuration('36h')?.ms).toBe(36 * 3_600_000);
    expect(parseRetentionDuration('90m')?.ms).toBe(90 * 60_000);
    expect(parseRetentionDuration('2w')?.ms).toBe(14 * 86_400_000);
    for (const bad of ['', '7', 'd', '0d', '-1d', '1.5h', '7 days', '1y', '99999999w'])
      expect(parseRetentionDuration(bad), bad).toBeUndefined();
  });

  it('reads a default retention and per-source overrides, off included', () => {
    const config = loadConfig({
      TIDEMARK_RETENTION: '7d',
      TIDEMARK_RETENTION_BY_SOURCE: '{"main": "30d", "scratch": "off"}',
      TIDEMARK_GC_INTERVAL_MS: '60000',
    });
    expect(retentionOf(config, 'main')?.text).toBe('30d');
    expect(retentionOf(config, 'scratch')).toBeNull();
    expect(retentionOf(config, 'other')?.text).toBe('7d');
    expect(config.gcIntervalMs).toBe(60000);
    expect(retentionOf(loadConfig({}), 'main')).toBeNull();
    expect(retentionOf(loadConfig({ TIDEMARK_RETENTION: 'off' }), 'main')).toBeNull();
  });

  it('names the variable and the problem of a bad value', () => {
    for (const [env, value, message] of [
      ['TIDEMARK_RETENTION', '7 days', /TIDEMARK_RETENTION: .*not a duration/],
      [
        'TIDEMARK_RETENTION_BY_SOURCE',
        '{"Main": "1d"}',
        /TIDEMARK_RETENTION_BY_SOURCE: .*not a valid source name/,
      ],
      ['TIDEMARK_RETENTION_BY_SOURCE', '{"main": "1x"}', /source main: "1x" is not a duration/],
      ['TIDEMARK_S3_OBJECT_LOCK', 'legal-hold', /TIDEMARK_S3_OBJECT_LOCK: expected governance or compliance/],
    ] as const) {
      let error: unknown;
      try {
        loadConfig({ [env]: value });
      } catch (err) {
        error = err;
      }
      expect(isTidemarkError(error, 'CONFIG_INVALID'), env).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('locks objects for the retention by default, and needs S3 and a duration to lock at all', () => {
    const s3 = { TIDEMARK_S3_BUCKET: 'journal', TIDEMARK_S3_OBJECT_LOCK: 'compliance' };
    expect(objectLockDays(loadConfig({ ...s3, TIDEMARK_RETENTION: '36h' }))).toBe(2);
    expect(
      objectLockDays(
        loadConfig({ ...s3, TIDEMARK_RETENTION: '1d', TIDEMARK_RETENTION_BY_SOURCE: '{"a":"10d"}' }),
      ),
    ).toBe(10);
    expect(objectLockDays(loadConfig({ ...s3, TIDEMARK_S3_OBJECT_LOCK_DAYS: '3' }))).toBe(3);
    expect(() => loadConfig(s3)).toThrow(/TIDEMARK_S3_OBJECT_LOCK_DAYS or TIDEMARK_RETENTION/);
    expect(() => loadConfig({ TIDEMARK_S3_OBJECT_LOCK: 'governance', TIDEMARK_RETENTION: '1d' })).toThrow(
      /needs the journal in S3/,
    );
  });
});
