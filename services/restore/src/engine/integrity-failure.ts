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
 * The planner's "no snapshot passes verification" names snapshot LSNs; the restore's error
 * should name the damaged object. `skipped` are the messages of the snapshots left out
 * (each names the objects that failed); the first object key becomes `details.key`.
 */
export function withDamagedSnapshotKey(err: unknown, skipped: readonly string[]): unknown {
  if (!isTidemarkError(err, 'SNAPSHOT_CORRUPT') || err.details.key !== undefined || skipped.length === 0)
    return err;
  const key = /(\S+\/base\/[0-9A-F]{16}\/\S+)/.exec(skipped.join(' '))?.[1];
  return new TidemarkError('SNAPSHOT_CORRUPT', `${err.message}: ${skipped.join('; ')}`, {
    cause: err,
    details: { ...err.details, ...(key ? { key } : {}) },
  });
}
