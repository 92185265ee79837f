import { xxh64 } from './checksum.js';
import {
  RECORD_FRAME_LENGTH,
  SEGMENT_PREAMBLE_LENGTH,
  type SegmentHeader,
  type SegmentIndexEntry,
} from './segment-format.js';
import type { SegmentProblemKind } from './segment-verifier.js';

/** The structural checks of segment-verifier.ts, each reporting through `add`. */
export type Add = (kind: SegmentProblemKind, offset: number, message: string) => void;

/**
 * Frames from `start` to exactly `end`; undefined when the framing itself is broken.
 * `endName` says what lies at `end` (the index, or the end of an opened block).
 */
export function walkRecords(
  bytes: Uint8Array,
  view: DataView,
  start: number,
  end: number,
  add: Add,
  endName = `the index at ${end}`,
) {
  const frames: [number, number, number][] = [];
  let at = start;
  while (at < end) {
    if (at + RECORD_FRAME_LENGTH > end) {
      add('record-framing', at, `record frame at ${at} runs into ${endName}`);
      return undefined;
    }
    const length = view.getUint32(at, true);
    const payloadEnd = at + RECORD_FRAME_LENGTH + length;
    if (payloadEnd > end) {
      add('record-framing', at, `record at ${at} claims ${length} bytes and runs into ${endName}`);
      return undefined;
    }
    const payload = bytes.subarray(at + RECORD_FRAME_LENGTH, payloadEnd);
    if (view.getBigUint64(at + 4, true) !== xxh64(payload)) {
      add('record-checksum', at, `record ${frames.length} at offset ${at} fails its xxh64 checksum`);
    }
    frames.push([at, at + RECORD_FRAME_LENGTH, payloadEnd]);
    at = payloadEnd;
  }
  return frames;
}

export function checkIndex(
  index: SegmentIndexEntry[],
  frames: [number, number, number][],
  indexOffset: number,
  add: Add,
) {
  if (index.length !== frames.length) {
    add(
      'index-corrupt',
      indexOffset,
      `index lists ${index.length} records, the segment holds ${frames.length}`,
    );
    return;
  }
  for (let i = 0; i < index.length; i++) {
    const e = index[i]!;
    if (e.offset !== frames[i]![0]) {
      add(
        'index-corrupt',
        indexOffset,
        `index entry ${i} points at offset ${e.offset}, the record is at ${frames[i]![0]}`,
      );
      return;
    }
    if (i > 0 && e.commitLsn <= index[i - 1]!.commitLsn) {
      add(
        'lsn-order',
        e.offset,
        `record ${i} at offset ${e.offset} does not have a commit LSN after its predecessor`,
      );
    }
  }
}

/**
 * A blocked segment's index: one entry per record, in block order, every block holding at
 * least one record, the first record of a block at inner offset 0, later ones further in.
 */
export function checkBlockIndex(
  index: SegmentIndexEntry[],
  blocks: [number, number, number][],
  indexOffset: number,
  blockCount: number | undefined,
  add: Add,
) {
  if (blockCount !== undefined && blockCount !== blocks.length) {
    add(
      'header-mismatch',
      SEGMENT_PREAMBLE_LENGTH,
      `header says ${blockCount} blocks, the segment holds ${blocks.length}`,
    );
    return;
  }
  let b = -1;
  for (let i = 0; i < index.length; i++) {
    const e = index[i]!;
    const prev = index[i - 1];
    const sameBlock = b >= 0 && e.offset === blocks[b]![0];
    const nextBlock = e.offset === blocks[b + 1]?.[0];
    const inner = e.inner ?? -1;
    if (sameBlock ? inner <= (prev?.inner ?? -1) : !nextBlock || inner !== 0) {
      add(
        'index-corrupt',
        indexOffset,
        `index entry ${i} points at block offset ${e.offset}+${inner}, which does not follow entry ${i - 1}`,
      );
      return;
    }
    if (nextBlock && !sameBlock) b++;
    if (prev && e.commitLsn <= prev.commitLsn) {
      add(
        'lsn-order',
        e.offset,
        `record ${i} in the block at offset ${e.offset} does not have a commit LSN after its predecessor`,
      );
    }
  }
  if (b !== blocks.length - 1) {
    add(
      'index-corrupt',
      indexOffset,
      `index lists records in ${b + 1} blocks, the segment holds ${blocks.length}`,
    );
  }
}

export function checkHeaderAgainstIndex(h: SegmentHeader, index: SegmentIndexEntry[], add: Add) {
  const first = index[0];
  const last = index[index.length - 1];
  if (first === undefined || last === undefined) {
    add(
      'header-mismatch',
      SEGMENT_PREAMBLE_LENGTH,
      `header promises ${h.recordCount} records, the segment holds none`,
    );
    return;
  }
  const mismatches = [
    h.recordCount !== index.length && `recordCount ${h.recordCount} vs ${index.length} records`,
    h.firstLsn !== first.commitLsn && `firstLsn ${h.firstLsn} vs ${first.commitLsn}`,
    h.lastLsn !== last.commitLsn && `lastLsn ${h.lastLsn} vs ${last.commitLsn}`,
    h.firstCommitTime !== first.commitTime && `firstCommitTime ${h.firstCommitTime} vs ${first.commitTime}`,
    h.lastCommitTime !== last.commitTime && `lastCommitTime ${h.lastCommitTime} vs ${last.commitTime}`,
  ].filter((m): m is string => typeof m === 'string');
  if (mismatches.length > 0) {
    add(
      'header-mismatch',
      SEGMENT_PREAMBLE_LENGTH,
      `header disagrees with the index: ${mismatches.join('; ')}`,
    );
  }
}

export function startsWith(bytes: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (at < 0 || at + expected.length > bytes.length) return false;
  for (let i = 0; i < expected.length; i++) if (bytes[at + i] !== expected[i]) return false;
  return true;
}
