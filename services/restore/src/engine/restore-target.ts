import {
  formatLsn,
  formatTimestampMicros,
  type Lsn,
  type MicrosSinceEpoch,
  parseLsn,
  parseTimestampMicros,
  TidemarkError,
  type TransactionRecord,
} from '@tidemark/shared';

/**
 * What a restore aims at, and the rule that ends the replay. Pure.
 *
 * The stop rule is PostgreSQL's recovery_target semantics (docs/architecture.md, "Time
 * and exactness"): replay in commit-LSN order and stop at the FIRST record past the
 * target, even if a later record would qualify again — commit timestamps can be a few µs
 * out of LSN order, and only a prefix of the commit order is a state the source had.
 */
export type RestoreTarget =
  | { readonly kind: 'time'; readonly micros: MicrosSinceEpoch }
  | { readonly kind: 'lsn'; readonly lsn: Lsn }
  | { readonly kind: 'latest' };

export type StopRule =
  | { readonly kind: 'time'; readonly micros: MicrosSinceEpoch }
  | { readonly kind: 'lsn'; readonly lsn: Lsn };

/** The request form of a target, as the API receives it. */
export type RestoreTargetInput =
  | { readonly time: string }
  | { readonly lsn: string }
  | { readonly latest: true };

export function isPastTarget(
  rule: StopRule,
  record: Pick<TransactionRecord, 'commitLsn' | 'commitTime'>,
): boolean {
  return rule.kind === 'time' ? record.commitTime > rule.micros : record.commitLsn > rule.lsn;
}

/** Validates the request form; BAD_REQUEST with a message a person can act on. */
export function parseRestoreTarget(input: unknown): RestoreTarget {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw badTarget('target must be an object: {"time": "..."}, {"lsn": "X/Y"} or {"latest": true}');
  }
  const t = input as Record<string, unknown>;
  const keys = Object.keys(t);
  if (keys.length !== 1) {
    throw badTarget(`target must have exactly one of time, lsn or latest (got ${keys.join(', ') || 'none'})`);
  }
  if ('time' in t) {
    if (typeof t.time !== 'string') throw badTarget('target.time must be a string');
    try {
      return { kind: 'time', micros: parseTimestampMicros(t.time) };
    } catch (err) {
      throw badTarget(
        `target.time ${JSON.stringify(t.time)} is not a timestamp with a time zone, e.g. 2024-05-01T10:41:07.123456Z`,
        err,
      );
    }
  }
  if ('lsn' in t) {
    if (typeof t.lsn !== 'string') throw badTarget('target.lsn must be a string like 16/B374D848');
    try {
      return { kind: 'lsn', lsn: parseLsn(t.lsn) };
    } catch (err) {
      throw badTarget(
        `target.lsn ${JSON.stringify(t.lsn)} is not an LSN (expected the form 16/B374D848)`,
        err,
      );
    }
  }
  if ('latest' in t) {
    if (t.latest !== true) throw badTarget('target.latest must be true');
    return { kind: 'latest' };
  }
  throw badTarget(`unknown target ${JSON.stringify(keys[0])}: use time, lsn or latest`);
}

/** The request form again, for job views and logs. */
export function formatRestoreTarget(target: RestoreTarget): RestoreTargetInput {
  switch (target.kind) {
    case 'time':
      return { time: formatTimestampMicros(target.micros) };
    case 'lsn':
      return { lsn: formatLsn(target.lsn) };
    case 'latest':
      return { latest: true };
  }
}

function badTarget(message: string, cause?: unknown): TidemarkError {
  return new TidemarkError('BAD_REQUEST', message, { cause, details: { field: 'target' } });
}
