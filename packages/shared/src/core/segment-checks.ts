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

/** Frames from `start` to exactly `end`; undefined when the framing itself is broken. */
export function walkRecords(bytes: Uint8Array, view: DataView, start: number, end: number, add: Add) {
  const frames: [number, number, number][] = [];
  let at = start;
  while (at < end) {
    if (at + RECORD_FRAME_LENGTH > end) {
      add('record-framing', at, `record frame at ${at} runs into the index at ${end}`);
      return undefined;
    }
    const length = view.getUint32(at, true);
    const payloadEnd = at + RECORD_FRAME_LENGTH + length;
    if (payloadEnd > end) {
      add('record-framing', at, `record at ${at} claims ${length} bytes and runs into the index at ${end}`);
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
