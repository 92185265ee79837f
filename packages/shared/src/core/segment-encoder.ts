import { bytesToHex, sha256, xxh64 } from './checksum.js';
import { TidemarkError } from './errors.js';
import type { Lsn } from './lsn.js';
import { DEFAULT_BLOCK_BYTES, envelopeOf, groupIntoBlocks, sealBlock } from './segment-blocks.js';
import { DATA_KEY_LENGTH, randomNonce } from './segment-crypto.js';
import {
  checkHeader,
  encodeHeader,
  encodeIndex,
  flagsOfHeader,
  MAX_RECORD_LENGTH,
  RECORD_FRAME_LENGTH,
  SEGMENT_CIPHER,
  SEGMENT_END_MAGIC,
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
  /** bytes of the record frames before compression (equal to their stored size in a plain segment) */
  recordBytes: number;
}

export type SegmentCompression = 'zstd' | 'none';

/** An unwrapped data key and what the header records so it can be unwrapped again. */
export interface SegmentDataKey {
  /** 32 bytes; never stored, logged or put in an error */
  dataKey: Uint8Array;
  keyId: string;
  wrappedKey: Uint8Array;
  /** 12 bytes; random when absent (tests pass one to get fixed bytes) */
  nonce?: Uint8Array;
}

/** How records are stored. Nothing given: a plain segment (flags 0), as format v1 always wrote. */
export interface SegmentSealing {
  compression?: SegmentCompression;
  encryption?: SegmentDataKey;
  /** raw bytes of record frames per block (default 256 KiB) */
  blockBytes?: number;
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
 * With compression or encryption (`sealing`), records are stored in blocks
 * (segment-blocks.ts). Needs `initChecksums()` to have resolved.
 */
export function encodeSegment(input: EncodeSegmentInput, sealing: SegmentSealing = {}): EncodedSegment {
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
  for (const r of records) {
    if (r.payload.byteLength > MAX_RECORD_LENGTH)
      throw invalid(`a record of ${r.payload.byteLength} bytes exceeds 4 GiB`);
  }
  const recordBytes = records.reduce((s, r) => s + RECORD_FRAME_LENGTH + r.payload.byteLength, 0);
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
  const compress = sealing.compression === 'zstd';
  const enc = sealing.encryption;
  if (!compress && !enc) {
    check(header);
    return assemble(
      preambleAndHeader(header),
      header,
      records.map((r) => r.payload),
      (offsets) =>
        records.map((r, i) => ({ commitTime: r.commitTime, commitLsn: r.commitLsn, offset: offsets[i]! })),
      recordBytes,
    );
  }

  const blockBytes = sealing.blockBytes ?? DEFAULT_BLOCK_BYTES;
  if (!Number.isSafeInteger(blockBytes) || blockBytes < 1)
    throw invalid(`block size ${blockBytes} is not positive`);
  const blocks = groupIntoBlocks(records, blockBytes);
  if (compress) header.compression = 'zstd';
  let keys: { dataKey: Uint8Array; nonce: Uint8Array } | undefined;
  if (enc) {
    if (enc.dataKey.byteLength !== DATA_KEY_LENGTH)
      throw invalid(`the data key is not ${DATA_KEY_LENGTH} bytes`);
    keys = { dataKey: enc.dataKey, nonce: enc.nonce ?? randomNonce() };
    header.encryption = {
      algorithm: SEGMENT_CIPHER,
      keyId: enc.keyId,
      wrappedKey: enc.wrappedKey,
      nonce: keys.nonce,
    };
  }
  header.blockCount = blocks.length;
  check(header);
  const prefix = preambleAndHeader(header);
  const stored = blocks.map((b, i) => sealBlock(envelopeOf(b.raw, compress), i, prefix, keys));
  return assemble(
    prefix,
    header,
    stored,
    (offsets) => {
      const index: SegmentIndexEntry[] = [];
      let r = 0;
      blocks.forEach((b, i) => {
        for (const inner of b.inner) {
          const rec = records[r++]!;
          index.push({ commitTime: rec.commitTime, commitLsn: rec.commitLsn, offset: offsets[i]!, inner });
        }
      });
      return index;
    },
    recordBytes,
    // compressed: the index is stored in an envelope too (segment-blocks.ts)
    compress ? (index) => envelopeOf(index, true) : undefined,
  );
}

/** magic | version | flags | headerLength | header: what precedes the first frame */
export function preambleAndHeader(header: SegmentHeader): Uint8Array {
  const headerBytes = encodeHeader(header);
  const out = new Uint8Array(SEGMENT_PREAMBLE_LENGTH + headerBytes.byteLength);
  const view = new DataView(out.buffer);
  out.set(SEGMENT_MAGIC, 0);
  view.setUint16(8, SEGMENT_VERSION, true);
  view.setUint16(10, flagsOfHeader(header), true);
  view.setUint32(12, headerBytes.byteLength, true);
  out.set(headerBytes, SEGMENT_PREAMBLE_LENGTH);
  return out;
}

/** prefix | frames (u32 length | u64 xxh64 | payload) | index | footer; `indexOf` gets each frame's offset */
function assemble(
  prefix: Uint8Array,
  header: SegmentHeader,
  payloads: readonly Uint8Array[],
  indexOf: (offsets: number[]) => SegmentIndexEntry[],
  recordBytes: number,
  indexCodec: (index: Uint8Array) => Uint8Array = (index) => index,
): EncodedSegment {
  let offset = prefix.byteLength;
  const offsets = payloads.map((p) => {
    const at = offset;
    offset += RECORD_FRAME_LENGTH + p.byteLength;
    return at;
  });
  const indexOffset = offset;
  const indexBytes = indexCodec(encodeIndex(indexOf(offsets)));
  const footerOffset = indexOffset + indexBytes.byteLength;

  const bytes = new Uint8Array(footerOffset + SEGMENT_FOOTER_LENGTH);
  const view = new DataView(bytes.buffer);
  bytes.set(prefix, 0);
  payloads.forEach((p, i) => {
    const at = offsets[i]!;
    view.setUint32(at, p.byteLength, true);
    view.setBigUint64(at + 4, xxh64(p), true);
    bytes.set(p, at + RECORD_FRAME_LENGTH);
  });
  bytes.set(indexBytes, indexOffset);

  const body = bytes.subarray(0, footerOffset);
  const digest = sha256(body);
  view.setBigUint64(footerOffset, BigInt(indexOffset), true);
  view.setUint32(footerOffset + 8, indexBytes.byteLength, true);
  view.setBigUint64(footerOffset + 12, xxh64(body), true);
  bytes.set(digest, footerOffset + 20);
  bytes.set(SEGMENT_END_MAGIC, footerOffset + 52);
  return { bytes, sha256: bytesToHex(digest), header, recordBytes };
}

function check(header: SegmentHeader): void {
  try {
    checkHeader(header);
  } catch (err) {
    if (err instanceof ShapeError) throw invalid(err.message);
    throw err;
  }
}

function invalid(what: string): TidemarkError {
  return new TidemarkError('INTERNAL', `cannot encode segment: ${what}`);
}
