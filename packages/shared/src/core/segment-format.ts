import { bytesToI64, bytesToU64, i64ToBytes, u64ToBytes } from './int64-bytes.js';
import { type Lsn, lsnToHex16 } from './lsn.js';
import { pack, unpack } from './msgpack.js';
import { isValidSourceName } from './object-layout.js';
import { array, bytes as binary, int, record, ShapeError, str } from './shape-check.js';
import { parseTimestampMicros } from './time.js';

/**
 * Segment format v1 (docs/architecture.md), all integers little-endian:
 *
 *   magic "TMSEG001" | u16 version | u16 flags | u32 headerLength | header (msgpack map)
 *   flags 0:    recordCount × ( u32 length | u64 xxh64(payload) | payload )
 *               index (msgpack): [[commitTime, commitLsn, offset], ...]
 *   flags != 0: blockCount × ( u32 length | u64 xxh64(stored) | stored )   (segment-blocks.ts)
 *               index (msgpack): [[commitTime, commitLsn, blockOffset, offsetInBlock], ...]
 *               (bit0 set: the index is stored in a block envelope, zstd-compressed)
 *   footer: u64 indexOffset | u32 indexLength | u64 xxh64(before footer) | SHA-256(before footer) | "TMSEGEND"
 *
 * Flags: bit0 compressed (zstd), bit1 encrypted (AES-256-GCM). With any flag set, records
 * travel in blocks: each block is whole record frames (the flags-0 framing) compressed
 * and/or encrypted as one unit, framed like a record so every checksum covers the stored
 * bytes and verifies without a key.
 *
 * In the header, LSNs are 16 hex digits and commit times decimal strings (readable with
 * any msgpack tool); in the index, where there are many, they are 8-byte binaries. Both
 * keep 64-bit values exact whatever the msgpack decoder does with large integers.
 */
export const SEGMENT_MAGIC = new TextEncoder().encode('TMSEG001');
export const SEGMENT_END_MAGIC = new TextEncoder().encode('TMSEGEND');
export const SEGMENT_VERSION = 1;
/** flags of a plain segment: records stored one per frame, as written since the start */
export const SEGMENT_FLAGS_V1 = 0;
/** bit0: record blocks are zstd-compressed (a block that would not shrink is stored as is) */
export const SEGMENT_FLAG_COMPRESSED = 0x1;
/** bit1: record blocks are encrypted with AES-256-GCM under a per-segment data key */
export const SEGMENT_FLAG_ENCRYPTED = 0x2;
/** every flag this version knows; any other bit set is 'unsupported-flags' */
export const SEGMENT_KNOWN_FLAGS = SEGMENT_FLAG_COMPRESSED | SEGMENT_FLAG_ENCRYPTED;
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
  /** present exactly when flag bit0 is set */
  compression?: 'zstd';
  /** present exactly when flag bit1 is set: how to get the data key back (never the key itself) */
  encryption?: SegmentEncryptionHeader;
  /** number of record blocks; present exactly when a flag is set */
  blockCount?: number;
}

export const SEGMENT_CIPHER = 'AES-256-GCM';
/** GCM nonce length: the header holds the base nonce, block i uses it XOR i */
export const SEGMENT_NONCE_LENGTH = 12;

export interface SegmentEncryptionHeader {
  algorithm: typeof SEGMENT_CIPHER;
  /** id of the master key (KeyProvider) that wrapped the data key */
  keyId: string;
  /** the data key, wrapped by the master key `keyId` (opaque to the segment) */
  wrappedKey: Uint8Array;
  nonce: Uint8Array;
}

export interface SegmentIndexEntry {
  commitTime: bigint;
  commitLsn: Lsn;
  /** plain segment: offset of the record's frame; blocked segment: offset of its block's frame */
  offset: number;
  /** blocked segment only: offset of the record's frame inside the opened block */
  inner?: number;
}

/** key ids of KMS-style providers: ARNs and aliases fit */
const KEY_ID = /^[A-Za-z0-9._:/+=@-]{1,256}$/;
const MAX_WRAPPED_KEY_LENGTH = 4096;

export function isValidKeyId(id: string): boolean {
  return KEY_ID.test(id);
}

/** the flags a header's optional fields call for */
export function flagsOfHeader(h: SegmentHeader): number {
  return (h.compression ? SEGMENT_FLAG_COMPRESSED : 0) | (h.encryption ? SEGMENT_FLAG_ENCRYPTED : 0);
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
  if (h.compression !== undefined && h.compression !== 'zstd')
    throw new ShapeError(`compression ${JSON.stringify(h.compression)} is not zstd`);
  const e = h.encryption;
  if (e) {
    if (e.algorithm !== SEGMENT_CIPHER) throw new ShapeError(`encryption algorithm is not ${SEGMENT_CIPHER}`);
    if (!isValidKeyId(e.keyId)) throw new ShapeError('encryption keyId is not a valid key id');
    if (e.wrappedKey.byteLength < 1 || e.wrappedKey.byteLength > MAX_WRAPPED_KEY_LENGTH)
      throw new ShapeError('encryption wrappedKey has an impossible length');
    if (e.nonce.byteLength !== SEGMENT_NONCE_LENGTH)
      throw new ShapeError(`encryption nonce is not ${SEGMENT_NONCE_LENGTH} bytes`);
  }
  const blocked = h.compression !== undefined || e !== undefined;
  if (blocked !== (h.blockCount !== undefined))
    throw new ShapeError('blockCount must be given exactly when records are compressed or encrypted');
  if (
    h.blockCount !== undefined &&
    (!Number.isSafeInteger(h.blockCount) || h.blockCount < 1 || h.blockCount > h.recordCount)
  )
    throw new ShapeError('blockCount is not between 1 and recordCount');
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
    // only sealed segments carry these, so a plain header is byte for byte what it always was
    ...(h.compression ? { compression: h.compression } : {}),
    ...(h.encryption
      ? {
          encryption: {
            algorithm: h.encryption.algorithm,
            keyId: h.encryption.keyId,
            wrappedKey: h.encryption.wrappedKey,
            nonce: h.encryption.nonce,
          },
        }
      : {}),
    ...(h.blockCount !== undefined ? { blockCount: h.blockCount } : {}),
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
  if (m.compression !== undefined) header.compression = str(m.compression, 'compression') as 'zstd';
  if (m.encryption !== undefined) {
    const e = record(m.encryption, 'encryption');
    header.encryption = {
      algorithm: str(e.algorithm, 'encryption.algorithm') as typeof SEGMENT_CIPHER,
      keyId: str(e.keyId, 'encryption.keyId'),
      wrappedKey: plain(binary(e.wrappedKey, 'encryption.wrappedKey')),
      nonce: plain(binary(e.nonce, 'encryption.nonce')),
    };
  }
  if (m.blockCount !== undefined) header.blockCount = int(m.blockCount, 'blockCount');
  checkHeader(header);
  return header;
}

/** a copy as a plain Uint8Array (msgpackr hands out Buffers sharing the segment's memory) */
function plain(b: Uint8Array): Uint8Array {
  return Uint8Array.from(b);
}

export function encodeIndex(entries: readonly SegmentIndexEntry[]): Uint8Array {
  return pack(
    entries.map((e) => {
      const entry: unknown[] = [i64ToBytes(e.commitTime), u64ToBytes(e.commitLsn), e.offset];
      if (e.inner !== undefined) entry.push(e.inner);
      return entry;
    }),
  );
}

/** `blocked`: the segment's flags say records are in blocks, so every entry has 4 fields */
export function decodeIndex(data: Uint8Array, blocked = false): SegmentIndexEntry[] {
  const fields = blocked ? 4 : 3;
  return array(unpack(data), 'index').map((raw, i) => {
    const e = array(raw, `index[${i}]`);
    if (e.length !== fields) throw new ShapeError(`index[${i}] has ${e.length} fields, expected ${fields}`);
    const commitTime = bytesToI64(e[0]);
    const commitLsn = bytesToU64(e[1]);
    if (commitTime === undefined || commitLsn === undefined) throw new ShapeError(`index[${i}] is malformed`);
    const entry: SegmentIndexEntry = { commitTime, commitLsn, offset: int(e[2], `index[${i}].offset`) };
    if (blocked) entry.inner = int(e[3], `index[${i}].inner`);
    return entry;
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
