import { bytesToHex, sha256, xxh64 } from './checksum.js';
import { TidemarkError } from './errors.js';
import type { Lsn } from './lsn.js';
import {
  checkHeader,
  encodeHeader,
  encodeIndex,
  MAX_RECORD_LENGTH,
  RECORD_FRAME_LENGTH,
  SEGMENT_END_MAGIC,
  SEGMENT_FLAGS_V1,
  SEGMENT_FOOTER_LENGTH,
  SEGMENT_MAGIC,
  SEGMENT_PREAMBLE_LENGTH,
  SEGMENT_VERSION,
  type SegmentHeader,
  type SegmentIndexEntry,
} from './segment-format.js';
import { ShapeError } from './shape-check.js';

export interface SegmentRecordInput {
  /** an encoded record (record-codec.ts); the segment treats it as opaque bytes */
  payload: Uint8Array;
  commitLsn: Lsn;
  commitTime: bigint;
}

export interface EncodedSegment {
  bytes: Uint8Array;
  /** hex SHA-256 of everything before the footer: the segment's identity in the chain */
  sha256: string;
  header: SegmentHeader;
}

export interface EncodeSegmentInput {
  source: string;
  /** hex SHA-256 of the predecessor (or of the snapshot manifest for the first segment) */
  prevSha256: string;
  createdAt: string;
  records: readonly SegmentRecordInput[];
}

/**
 * Builds a whole segment in one buffer. Requires at least one record and strictly
 * increasing commit LSNs (the journal's total order); anything else is a bug in the
 * caller and throws INTERNAL rather than writing a segment that would fail verification.
 * Needs `initChecksums()` to have resolved.
 */
export function encodeSegment(input: EncodeSegmentInput): EncodedSegment {
  const { records } = input;
  const first = records[0];
  const last = records[records.length - 1];
  if (first === undefined || last === undefined) throw invalid('a segment needs at least one record');
  for (let i = 1; i < records.length; i++) {
    if (records[i]!.commitLsn <= records[i - 1]!.commitLsn) {
      throw invalid(
        `record ${i} has commit LSN ${records[i]!.commitLsn}, not after ${records[i - 1]!.commitLsn}`,
      );
    }
  }
  const header: SegmentHeader = {
    source: input.source,
    firstLsn: first.commitLsn,
    lastLsn: last.commitLsn,
    firstCommitTime: first.commitTime,
    lastCommitTime: last.commitTime,
    recordCount: records.length,
    prevSha256: input.prevSha256,
    createdAt: input.createdAt,
  };
  try {
    checkHeader(header);
  } catch (err) {
    if (err instanceof ShapeError) throw invalid(err.message);
    throw err;
  }
  const headerBytes = encodeHeader(header);

  let offset = SEGMENT_PREAMBLE_LENGTH + headerBytes.byteLength;
  const index: SegmentIndexEntry[] = [];
  for (const r of records) {
    if (r.payload.byteLength > MAX_RECORD_LENGTH)
      throw invalid(`a record of ${r.payload.byteLength} bytes exceeds 4 GiB`);
    index.push({ commitTime: r.commitTime, commitLsn: r.commitLsn, offset });
    offset += RECORD_FRAME_LENGTH + r.payload.byteLength;
  }
  const indexOffset = offset;
  const indexBytes = encodeIndex(index);
  const footerOffset = indexOffset + indexBytes.byteLength;

  const bytes = new Uint8Array(footerOffset + SEGMENT_FOOTER_LENGTH);
  const view = new DataView(bytes.buffer);
  bytes.set(SEGMENT_MAGIC, 0);
  view.setUint16(8, SEGMENT_VERSION, true);
  view.setUint16(10, SEGMENT_FLAGS_V1, true);
  view.setUint32(12, headerBytes.byteLength, true);
  bytes.set(headerBytes, SEGMENT_PREAMBLE_LENGTH);
  records.forEach((r, i) => {
    const at = index[i]!.offset;
    view.setUint32(at, r.payload.byteLength, true);
    view.setBigUint64(at + 4, xxh64(r.payload), true);
    bytes.set(r.payload, at + RECORD_FRAME_LENGTH);
  });
  bytes.set(indexBytes, indexOffset);

  const body = bytes.subarray(0, footerOffset);
  const digest = sha256(body);
  view.setBigUint64(footerOffset, BigInt(indexOffset), true);
  view.setUint32(footerOffset + 8, indexBytes.byteLength, true);
  view.setBigUint64(footerOffset + 12, xxh64(body), true);
  bytes.set(digest, footerOffset + 20);
  bytes.set(SEGMENT_END_MAGIC, footerOffset + 52);
  return { bytes, sha256: bytesToHex(digest), header };
}

function invalid(what: string): TidemarkError {
  return new TidemarkError('INTERNAL', `cannot encode segment: ${what}`);
}
