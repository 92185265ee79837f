import { TidemarkError } from './errors.js';
import type { Lsn } from './lsn.js';
import type { SegmentHeader } from './segment-format.js';
import {
  inspectSegment,
  openInspected,
  type SegmentInspection,
  type SegmentProblem,
} from './segment-verifier.js';

export interface SegmentRecordView {
  /**
   * offset of the record's frame from the segment start; in a compressed or encrypted
   * segment, of the frame of the block that holds it (where its stored bytes are)
   */
  offset: number;
  /** compressed or encrypted segment: offset of the record's frame inside its opened block */
  inner?: number;
  commitLsn: Lsn;
  commitTime: bigint;
  /** a view into the segment's (or the opened block's) bytes, not a copy: decode it with `decodeRecord` */
  payload: Uint8Array;
}

export interface ReadSegment {
  header: SegmentHeader;
  /** hex SHA-256 of the segment: what its successor's `prevSha256` must be */
  sha256: string;
  records: readonly SegmentRecordView[];
}

export interface ReadSegmentOptions {
  /** the unwrapped data key of an encrypted segment (see `openSegment` for a KeyProvider) */
  dataKey?: Uint8Array;
}

/**
 * Verifies the whole segment, then returns its records. Nothing is returned from a segment
 * that failed any check: the first problem is thrown as SEGMENT_CORRUPT naming the key and
 * the offset; a block of an encrypted segment that does not authenticate, or an encrypted
 * segment read without its key, as DECRYPT_FAILED. Every checksum is verified before
 * anything is decrypted. Needs `initChecksums()` to have resolved.
 */
export function readSegment(bytes: Uint8Array, key?: string, options: ReadSegmentOptions = {}): ReadSegment {
  return readInspected(bytes, inspectSegment(bytes), key, options.dataKey);
}

/** `readSegment` on an inspection already made (openSegment inspects before unwrapping the key). */
export function readInspected(
  bytes: Uint8Array,
  result: SegmentInspection,
  key: string | undefined,
  dataKey: Uint8Array | undefined,
): ReadSegment {
  const name = key ?? '(unnamed segment)';
  throwIfProblems(result.problems, name, key);
  const { header, sha256, index, frames } = result;
  if (!header || !sha256 || !index || !frames) {
    // unreachable: a clean inspection always carries these; refuse rather than guess
    throw new TidemarkError('SEGMENT_CORRUPT', `segment ${name} could not be read completely`, {
      details: { key, offset: 0, kind: 'truncated' },
    });
  }
  if (!result.blocked) {
    const records = index.map((e, i) => {
      const [offset, start, end] = frames[i]!;
      return {
        offset,
        commitLsn: e.commitLsn,
        commitTime: e.commitTime,
        payload: bytes.subarray(start, end),
      };
    });
    return { header, sha256, records };
  }
  if (header.encryption && !dataKey) {
    throw new TidemarkError(
      'DECRYPT_FAILED',
      `segment ${name} is encrypted (master key id ${header.encryption.keyId}) and no key provider was given to read it; ` +
        'configure TIDEMARK_MASTER_KEY_FILE or TIDEMARK_MASTER_KEY with that key',
      { details: { key, offset: 0, kind: 'key-required', keyId: header.encryption.keyId } },
    );
  }
  const opened = openInspected(bytes, result, dataKey);
  throwIfProblems(result.problems, name, key);
  if (!opened) {
    throw new TidemarkError('SEGMENT_CORRUPT', `segment ${name} could not be opened completely`, {
      details: { key, offset: 0, kind: 'block-corrupt' },
    });
  }
  // openBlocks checked that each block's frames are exactly its index entries, in order
  const blockAt = new Map(frames.map(([offset], i) => [offset, i]));
  const seen = frames.map(() => 0);
  const records = index.map((e) => {
    const b = blockAt.get(e.offset)!;
    const raw = opened.raws[b]!;
    const frame = opened.frames[b]![seen[b]!++]!;
    return {
      offset: e.offset,
      inner: frame[0],
      commitLsn: e.commitLsn,
      commitTime: e.commitTime,
      payload: raw.subarray(frame[1], frame[2]),
    };
  });
  return { header, sha256, records };
}

function throwIfProblems(problems: readonly SegmentProblem[], name: string, key: string | undefined): void {
  const problem = problems[0];
  if (!problem) return;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problems)` : '';
  const details = { key, offset: problem.offset, kind: problem.kind, problems };
  if (problem.kind === 'decrypt-failed') {
    throw new TidemarkError(
      'DECRYPT_FAILED',
      `segment ${name} failed to decrypt at offset ${problem.offset}: ${problem.message}${more}; nothing from it was used.`,
      { details },
    );
  }
  throw new TidemarkError(
    'SEGMENT_CORRUPT',
    `segment ${name} failed verification at offset ${problem.offset}: ${problem.message}${more}; ` +
      'nothing from it was used. Restore the object from a replica or backup of the journal store.',
    { details },
  );
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
