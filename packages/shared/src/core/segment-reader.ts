import { TidemarkError } from './errors.js';
import type { Lsn } from './lsn.js';
import type { SegmentHeader } from './segment-format.js';
import { inspectSegment } from './segment-verifier.js';

export interface SegmentRecordView {
  /** offset of the record's frame from the segment start */
  offset: number;
  commitLsn: Lsn;
  commitTime: bigint;
  /** a view into the segment's bytes (not a copy): decode it with `decodeRecord` */
  payload: Uint8Array;
}

export interface ReadSegment {
  header: SegmentHeader;
  /** hex SHA-256 of the segment: what its successor's `prevSha256` must be */
  sha256: string;
  records: readonly SegmentRecordView[];
}

/**
 * Verifies the whole segment, then returns its records. Nothing is returned from a segment
 * that failed any check: the first problem is thrown as SEGMENT_CORRUPT naming the key and
 * the offset. Needs `initChecksums()` to have resolved.
 */
export function readSegment(bytes: Uint8Array, key?: string): ReadSegment {
  const result = inspectSegment(bytes);
  const { header, sha256, index, frames } = result;
  const problem = result.problems[0];
  const name = key ?? '(unnamed segment)';
  if (problem) {
    const more = result.problems.length > 1 ? ` (and ${result.problems.length - 1} more problems)` : '';
    throw new TidemarkError(
      'SEGMENT_CORRUPT',
      `segment ${name} failed verification at offset ${problem.offset}: ${problem.message}${more}; ` +
        'nothing from it was used. Restore the object from a replica or backup of the journal store.',
      { details: { key, offset: problem.offset, kind: problem.kind, problems: result.problems } },
    );
  }
  if (!header || !sha256 || !index || !frames) {
    // unreachable: a clean inspection always carries these; refuse rather than guess
    throw new TidemarkError('SEGMENT_CORRUPT', `segment ${name} could not be read completely`, {
      details: { key, offset: 0, kind: 'truncated' },
    });
  }
  const records = index.map((e, i) => {
    const [offset, start, end] = frames[i]!;
    return { offset, commitLsn: e.commitLsn, commitTime: e.commitTime, payload: bytes.subarray(start, end) };
  });
  return { header, sha256, records };
}

/**
 * Position of the first record (in commit-LSN order) whose commit time is after
 * `timeMicros`, or `records.length` when there is none: where a restore to that time
 * stops. Commit times are not monotonic in LSN order (concurrent commits can be a few µs
 * apart the other way), so a binary search over them could land past an earlier
 * later-than-target record; this is a linear scan over the index, exact by construction
 * and cheap (a segment holds at most some ten thousand entries).
 */
export function findFirstRecordAfterTime(
  records: readonly { readonly commitTime: bigint }[],
  timeMicros: bigint,
): number {
  for (let i = 0; i < records.length; i++) if (records[i]!.commitTime > timeMicros) return i;
  return records.length;
}
