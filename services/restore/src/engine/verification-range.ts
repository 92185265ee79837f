import {
  isLsnText,
  type Lsn,
  parseLsn,
  parseSegmentKey,
  parseTimestampMicros,
  TidemarkError,
} from '@tidemark/shared';

/** One end of a verification range: a commit time (µs) or a commit LSN, with the text given. */
export type RangeBound =
  | { readonly kind: 'time'; readonly micros: bigint; readonly text: string }
  | { readonly kind: 'lsn'; readonly lsn: Lsn; readonly text: string };

export interface VerificationRange {
  readonly from?: RangeBound;
  readonly to?: RangeBound;
}

const HOUR = 3_600_000_000n;

/** `X/Y` is an LSN, anything else must be an RFC 3339 time (µs precision); BAD_REQUEST names the field. */
export function parseRangeBound(text: string, field: 'from' | 'to'): RangeBound {
  if (isLsnText(text)) return { kind: 'lsn', lsn: parseLsn(text), text };
  try {
    return { kind: 'time', micros: parseTimestampMicros(text), text };
  } catch {
    throw new TidemarkError(
      'BAD_REQUEST',
      `${field}: ${JSON.stringify(text.slice(0, 64))} is neither an LSN (X/Y) nor an RFC 3339 time such as 2026-11-23T10:41:07.123456Z`,
      { details: { field } },
    );
  }
}

export function parseRange(input: { from?: string; to?: string } | undefined): VerificationRange | undefined {
  if (!input || (input.from === undefined && input.to === undefined)) return undefined;
  const range: VerificationRange = {
    ...(input.from !== undefined ? { from: parseRangeBound(input.from, 'from') } : {}),
    ...(input.to !== undefined ? { to: parseRangeBound(input.to, 'to') } : {}),
  };
  if (range.from && range.to && range.from.kind === range.to.kind) {
    const a = range.from.kind === 'lsn' ? range.from.lsn : range.from.micros;
    const b = range.to.kind === 'lsn' ? range.to.lsn : (range.to as { micros: bigint }).micros;
    if (a > b) throw new TidemarkError('BAD_REQUEST', 'from is after to: give the earlier bound as from');
  }
  return range;
}

/**
 * The segments (in chain order) a range needs: those that may hold commits inside it, plus
 * one neighbour on each side so the hash links at both ends of the range are checked too.
 * LSN bounds are exact (keys carry LSN ranges); time bounds use the hour partition of the
 * keys (a segment is filed under the hour of its first commit, never before its
 * predecessor's), so a time range reads at most the segments of the hours it touches.
 */
export function selectRange<T extends { key: string }>(
  listed: readonly T[],
  range: VerificationRange | undefined,
): T[] {
  if (!range || listed.length === 0) return [...listed];
  const parsed = listed.map((s) => parseSegmentKey(s.key));
  const inRange = (i: number): boolean => {
    const p = parsed[i];
    if (!p) return true;
    const next = parsed[i + 1];
    const { from, to } = range;
    if (from) {
      if (from.kind === 'lsn' && p.lastLsn < from.lsn) return false;
      // commits of segment i happen before the next segment's partition hour ends
      if (from.kind === 'time' && next && next.partitionHourMicros + HOUR <= from.micros) return false;
    }
    if (to) {
      if (to.kind === 'lsn' && p.firstLsn > to.lsn) return false;
      if (to.kind === 'time' && p.partitionHourMicros > to.micros) return false;
    }
    return true;
  };
  let first = -1;
  let last = -1;
  for (let i = 0; i < listed.length; i++) {
    if (inRange(i)) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0) return [];
  return listed.slice(Math.max(0, first - 1), Math.min(listed.length, last + 2));
}
