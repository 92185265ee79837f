import { isTidemarkError, TidemarkError } from '@tidemark/shared';

/** Error codes meaning journal data failed verification (DESIGN.md invariant 5). */
export const INTEGRITY_CODES = [
  'SEGMENT_CORRUPT',
  'CHAIN_BROKEN',
  'SNAPSHOT_CORRUPT',
  'RECORD_CORRUPT',
  'DECRYPT_FAILED',
] as const;

/**
 * A restore that stops on one of these removes what it built: a target assembled from data
 * that failed verification must not be mistaken for a restore.
 */
export function isIntegrityFailure(err: unknown): boolean {
  return INTEGRITY_CODES.some((code) => isTidemarkError(err, code));
}

/**
 * The planner's "no snapshot passes verification" names the damaged objects in its details
 * (`key`, the first, and `damagedKeys`, snapshot-choice.ts); the restore's error adds what
 * was found wrong with each snapshot left out (`skipped`, the messages it reported).
 */
export function withDamagedSnapshotKey(err: unknown, skipped: readonly string[]): unknown {
  if (!isTidemarkError(err, 'SNAPSHOT_CORRUPT') || skipped.length === 0) return err;
  const keys = err.details.damagedKeys;
  if (!Array.isArray(keys) || typeof keys[0] !== 'string') return err;
  return new TidemarkError('SNAPSHOT_CORRUPT', `${err.message}: ${skipped.join('; ')}`, {
    cause: err,
    details: { ...err.details, key: keys[0] },
  });
}
