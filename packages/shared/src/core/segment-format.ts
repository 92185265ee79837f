import { bytesToI64, bytesToU64, i64ToBytes, u64ToBytes } from './int64-bytes.js';
import { type Lsn, lsnToHex16 } from './lsn.js';
import { pack, unpack } from './msgpack.js';
import { isValidSourceName } from './object-layout.js';
import { array, int, record, ShapeError, str, tuple } from './shape-check.js';
import { parseTimestampMicros } from './time.js';

/**
 * Segment format v1 (docs/architecture.md), all integers little-endian:
 *
 *   magic "TMSEG001" | u16 version | u16 flags | u32 headerLength | header (msgpack map)
 *   recordCount × ( u32 length | u64 xxh64(payload) | payload )
 *   index (msgpack): [[commitTime, commitLsn, offset], ...]
 *   footer: u64 indexOffset | u32 indexLength | u64 xxh64(before footer) | SHA-256(before footer) | "TMSEGEND"
 *
 * In the header, LSNs are 16 hex digits and commit times decimal strings (readable with
 * any msgpack tool); in the index, where there are many, they are 8-byte binaries. Both
 * keep 64-bit values exact whatever the msgpack decoder does with large integers.
 */
export const SEGMENT_MAGIC = new TextEncoder().encode('TMSEG001');
export const SEGMENT_END_MAGIC = new TextEncoder().encode('TMSEGEND');
export const SEGMENT_VERSION = 1;
/** bit0 compressed, bit1 encrypted: reserved, must be 0 in v1 */
export const SEGMENT_FLAGS_V1 = 0;
/** magic + version + flags + headerLength */
export const SEGMENT_PREAMBLE_LENGTH = 16;
/** u32 length + u64 xxh64 */
export const RECORD_FRAME_LENGTH = 12;
/** u64 indexOffset + u32 indexLength + u64 xxh64 + 32-byte SHA-256 + end magic */
export const SEGMENT_FOOTER_LENGTH = 8 + 4 + 8 + 32 + 8;
export const MAX_RECORD_LENGTH = 0xffff_ffff;

export interface SegmentHeader {
  source: string;
  firstLsn: Lsn;
  lastLsn: Lsn;
  /** commit time of the first record (LSN order) */
  firstCommitTime: bigint;
  /** commit time of the last record (LSN order): the newest restorable time once durable */
  lastCommitTime: bigint;
  recordCount: number;
  /** hex SHA-256 of the predecessor segment, or of the base snapshot's manifest.json */
  prevSha256: string;
  createdAt: string;
}

export interface SegmentIndexEntry {
  commitTime: bigint;
  commitLsn: Lsn;
  offset: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const HEX16 = /^[0-9A-F]{16}$/;
const DECIMAL = /^-?\d{1,20}$/;

/** Throws ShapeError when the header could not be read back. */
export function checkHeader(h: SegmentHeader): void {
  if (!isValidSourceName(h.source))
    throw new ShapeError(`source ${JSON.stringify(h.source)} is not a valid source name`);
  if (!SHA256_HEX.test(h.prevSha256)) throw new ShapeError('prevSha256 is not 64 lower-case hex digits');
  if (!Number.isSafeInteger(h.recordCount) || h.recordCount < 1)
    throw new ShapeError('recordCount is not a positive integer');
  if (h.firstLsn > h.lastLsn) throw new ShapeError('firstLsn is after lastLsn');
  try {
    parseTimestampMicros(h.createdAt);
  } catch {
    throw new ShapeError(`createdAt ${JSON.stringify(h.createdAt)} is not an RFC 3339 timestamp`);
  }
}

export function encodeHeader(h: SegmentHeader): Uint8Array {
  return pack({
    source: h.source,
    firstLsn: lsnToHex16(h.firstLsn),
    lastLsn: lsnToHex16(h.lastLsn),
    firstCommitTime: h.firstCommitTime.toString(),
    lastCommitTime: h.lastCommitTime.toString(),
    recordCount: h.recordCount,
    prevSha256: h.prevSha256,
    createdAt: h.createdAt,
  });
}

/** Throws ShapeError (or msgpackr's error) on anything that is not a v1 header. */
export function decodeHeader(bytes: Uint8Array): SegmentHeader {
  const m = record(unpack(bytes), 'header');
  const header: SegmentHeader = {
    source: str(m.source, 'source'),
    firstLsn: hex16(m.firstLsn, 'firstLsn'),
    lastLsn: hex16(m.lastLsn, 'lastLsn'),
    firstCommitTime: decimal(m.firstCommitTime, 'firstCommitTime'),
    lastCommitTime: decimal(m.lastCommitTime, 'lastCommitTime'),
    recordCount: int(m.recordCount, 'recordCount'),
    prevSha256: str(m.prevSha256, 'prevSha256'),
    createdAt: str(m.createdAt, 'createdAt'),
  };
  checkHeader(header);
  return header;
}

export function encodeIndex(entries: readonly SegmentIndexEntry[]): Uint8Array {
  return pack(entries.map((e) => [i64ToBytes(e.commitTime), u64ToBytes(e.commitLsn), e.offset]));
}

export function decodeIndex(bytes: Uint8Array): SegmentIndexEntry[] {
  return array(unpack(bytes), 'index').map((raw, i) => {
    const e = tuple(raw, 3, `index[${i}]`);
    const commitTime = bytesToI64(e[0]);
    const commitLsn = bytesToU64(e[1]);
    if (commitTime === undefined || commitLsn === undefined) throw new ShapeError(`index[${i}] is malformed`);
    return { commitTime, commitLsn, offset: int(e[2], `index[${i}].offset`) };
  });
}

function hex16(v: unknown, at: string): Lsn {
  const s = str(v, at);
  if (!HEX16.test(s)) throw new ShapeError(`${at} is not 16 upper-case hex digits`);
  return BigInt(`0x${s}`);
}

function decimal(v: unknown, at: string): bigint {
  const s = str(v, at);
  if (!DECIMAL.test(s)) throw new ShapeError(`${at} is not a decimal integer`);
  const n = BigInt(s);
  if (n < -(1n << 63n) || n >= 1n << 63n) throw new ShapeError(`${at} is out of range`);
  return n;
}
