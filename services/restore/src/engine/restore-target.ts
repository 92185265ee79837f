import {
  formatLsn,
  formatTimestampMicros,
  type Lsn,
  type MicrosSinceEpoch,
  parseLsn,
  parseTimestampMicros,
  RESTORE_POINT_NAME_PATTERN,
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
 *
 * Two targets name a transaction rather than a position, so where they stop is only known
 * from the journal's records:
 * - `xid`: the transaction with that id, included or not (`inclusive`, default true like
 *   `recovery_target_inclusive`). Found during the replay itself (records carry their
 *   xid, the segment index does not), so the plan reads up to the tip and a restore whose
 *   xid never shows up fails at the end, naming the xid.
 * - `restorePoint`: the transaction carrying the `tidemark.restore_point` message with
 *   that name, included. Resolved to its commit LSN from the journal before planning.
 */
export type RestoreTarget =
  | { readonly kind: 'time'; readonly micros: MicrosSinceEpoch }
  | { readonly kind: 'lsn'; readonly lsn: Lsn }
  | { readonly kind: 'latest' }
  | { readonly kind: 'xid'; readonly xid: number; readonly inclusive: boolean }
  | { readonly kind: 'restorePoint'; readonly name: string };

export type StopRule =
  | { readonly kind: 'time'; readonly micros: MicrosSinceEpoch }
  | { readonly kind: 'lsn'; readonly lsn: Lsn };

/** The request form of a target, as the API receives it. */
export type RestoreTargetInput =
  | { readonly time: string }
  | { readonly lsn: string }
  | { readonly latest: true }
  | { readonly xid: number | string; readonly inclusive?: boolean }
  | { readonly restorePoint: string };

/** Transaction ids in journal records are PostgreSQL's 32-bit xids. */
const XID_MODULUS = 2n ** 32n;
const FIRST_NORMAL_XID = 3n;

export function isPastTarget(
  rule: StopRule,
  record: Pick<TransactionRecord, 'commitLsn' | 'commitTime'>,
): boolean {
  return rule.kind === 'time' ? record.commitTime > rule.micros : record.commitLsn > rule.lsn;
}

const TARGET_FORMS =
  'target must be an object: {"time": "..."}, {"lsn": "X/Y"}, {"latest": true}, {"xid": 1234, "inclusive": true} or {"restorePoint": "name"}';

/** Validates the request form; BAD_REQUEST with a message a person can act on. */
export function parseRestoreTarget(input: unknown): RestoreTarget {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw badTarget(TARGET_FORMS);
  }
  const t = input as Record<string, unknown>;
  const keys = Object.keys(t);
  if ('xid' in t) {
    const extra = keys.filter((k) => k !== 'xid' && k !== 'inclusive');
    if (extra.length > 0)
      throw badTarget(`an xid target has only xid and inclusive (got also ${extra.join(', ')})`);
    if (t.inclusive !== undefined && typeof t.inclusive !== 'boolean')
      throw badTarget('target.inclusive must be true (stop after the transaction) or false (just before it)');
    return { kind: 'xid', xid: parseXid(t.xid), inclusive: t.inclusive !== false };
  }
  if (keys.length !== 1) {
    throw badTarget(
      `target must have exactly one of time, lsn, latest, xid or restorePoint (got ${keys.join(', ') || 'none'})`,
    );
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
  if ('restorePoint' in t) {
    if (typeof t.restorePoint !== 'string' || !RESTORE_POINT_NAME_PATTERN.test(t.restorePoint))
      throw badTarget(`target.restorePoint must be a restore point name: ${RESTORE_POINT_NAME_RULE}`);
    return { kind: 'restorePoint', name: t.restorePoint };
  }
  throw badTarget(`unknown target ${JSON.stringify(keys[0])}: use time, lsn, latest, xid or restorePoint`);
}

export const RESTORE_POINT_NAME_RULE = '1 to 63 characters out of A-Z a-z 0-9 . _ : -';

/**
 * A transaction id as a DBA copies it: a number or a decimal string, either the 32-bit
 * xid (`pg_stat_activity.backend_xid`, `xmin`) or the 64-bit `pg_current_xact_id()`,
 * whose low 32 bits are the xid the journal records carry.
 */
export function parseXid(value: unknown): number {
  let n: bigint;
  if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === 'string' && /^\d{1,20}$/.test(value)) n = BigInt(value);
  else
    throw badTarget(
      'target.xid must be a transaction id: a whole number (or a string of digits), e.g. 74211',
      undefined,
      'target.xid',
    );
  if (n >= 2n ** 64n)
    throw badTarget('target.xid is larger than a 64-bit transaction id', undefined, 'target.xid');
  const xid = n % XID_MODULUS;
  if (xid < FIRST_NORMAL_XID)
    throw badTarget(
      `target.xid ${n} is not a normal transaction id (0, 1 and 2 are reserved)`,
      undefined,
      'target.xid',
    );
  return Number(xid);
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
    case 'xid':
      return { xid: target.xid, inclusive: target.inclusive };
    case 'restorePoint':
      return { restorePoint: target.name };
  }
}

/** How a target is named in messages. */
export function describeTarget(target: RestoreTarget): string {
  switch (target.kind) {
    case 'time':
      return formatTimestampMicros(target.micros);
    case 'lsn':
      return `LSN ${formatLsn(target.lsn)}`;
    case 'latest':
      return 'the latest archived state';
    case 'xid':
      return `${target.inclusive ? 'just after' : 'just before'} transaction ${target.xid}`;
    case 'restorePoint':
      return `restore point ${JSON.stringify(target.name)}`;
  }
}

function badTarget(message: string, cause?: unknown, field = 'target'): TidemarkError {
  return new TidemarkError('BAD_REQUEST', message, { cause, details: { field } });
}
