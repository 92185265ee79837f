/**
 * Retention durations as people write them: a whole number and a unit, `90m`, `36h`,
 * `7d`, `2w` (s, m, h, d, w). Pure.
 */
export interface RetentionDuration {
  /** as configured, e.g. `7d` */
  readonly text: string;
  readonly ms: number;
}

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};
const DURATION = /^(\d{1,9})([smhdw])$/;
/** a century: beyond this a retention is a typo, and Date arithmetic would overflow soon after */
const MAX_MS = 100 * 365 * 86_400_000;

/** The duration, or undefined when `text` is not `<positive whole number><s|m|h|d|w>` (at most 100 years). */
export function parseRetentionDuration(text: string): RetentionDuration | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  if (ms <= 0 || ms > MAX_MS) return undefined;
  return { text: `${Number(m[1])}${m[2]}`, ms };
}

/** Whole days covering `ms` (at least 1): what S3 Object Lock retention defaults to. */
export function wholeDaysCovering(ms: number): number {
  return Math.max(1, Math.ceil(ms / UNIT_MS.d!));
}
