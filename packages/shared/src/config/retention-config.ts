import { isValidSourceName } from '../core/object-layout.js';
import {
  parseRetentionDuration,
  type RetentionDuration,
  wholeDaysCovering,
} from '../core/retention-duration.js';

/**
 * Retention settings: TIDEMARK_RETENTION (every source) and TIDEMARK_RETENTION_BY_SOURCE
 * (JSON `{"main": "30d", "scratch": "off"}`, overriding it per source). Unset: keep
 * everything.
 */
export type RetentionBySource = Readonly<Record<string, RetentionDuration | null>>;

/** Parses `off` or a duration; a message when invalid. */
export function parseRetentionSetting(text: string): RetentionDuration | null | string {
  if (text.trim() === 'off') return null;
  return parseRetentionDuration(text) ?? `${JSON.stringify(text)} is not a duration like 7d, 36h, 90m or off`;
}

/** Parses the per-source JSON; a message (naming the source) when invalid. */
export function parseRetentionBySource(text: string): RetentionBySource | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'not valid JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return 'expected a JSON object of source name → duration';
  const out: Record<string, RetentionDuration | null> = {};
  for (const [source, value] of Object.entries(parsed)) {
    if (!isValidSourceName(source)) return `${JSON.stringify(source)} is not a valid source name`;
    if (typeof value !== 'string') return `source ${source}: expected a string like "30d" or "off"`;
    const d = parseRetentionSetting(value);
    if (typeof d === 'string') return `source ${source}: ${d}`;
    out[source] = d;
  }
  return out;
}

/** The retention of one source: its override, else the default; null = keep everything. */
export function retentionOf(
  config: { readonly retention?: RetentionDuration | null; readonly retentionBySource?: RetentionBySource },
  source: string,
): RetentionDuration | null {
  const override = config.retentionBySource?.[source];
  if (override !== undefined) return override;
  return config.retention ?? null;
}

/**
 * Days objects are locked for under S3 Object Lock: TIDEMARK_S3_OBJECT_LOCK_DAYS, else the
 * longest configured retention (whole days, rounded up). undefined when neither is set.
 */
export function objectLockDays(config: {
  readonly s3ObjectLockDays?: number;
  readonly retention?: RetentionDuration | null;
  readonly retentionBySource?: RetentionBySource;
}): number | undefined {
  if (config.s3ObjectLockDays !== undefined) return config.s3ObjectLockDays;
  const all = [config.retention, ...Object.values(config.retentionBySource ?? {})].filter(
    (d): d is RetentionDuration => d !== null && d !== undefined,
  );
  if (all.length === 0) return undefined;
  return wholeDaysCovering(Math.max(...all.map((d) => d.ms)));
}
