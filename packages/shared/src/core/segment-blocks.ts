import { xxh64 } from './checksum.js';
import { MAX_COMPRESSED_BLOCK_INPUT, zstdCompress, zstdDecompress } from './compression.js';
import { type Add, walkRecords } from './segment-checks.js';
import { blockAad, blockNonce, decryptBlock, encryptBlock } from './segment-crypto.js';
import { RECORD_FRAME_LENGTH, type SegmentHeader, type SegmentIndexEntry } from './segment-format.js';
import { ShapeError } from './shape-check.js';

/**
 * Record blocks of a compressed and/or encrypted segment (flags != 0).
 *
 * Records are grouped, in order and never split, into blocks of about `blockBytes` of
 * record frames (a larger record gets a block of its own). A block's raw bytes are exactly
 * the record frames of a plain segment, `u32 length | u64 xxh64(payload) | payload`, so
 * every record keeps its own xxh64, checked once the block is opened. Each block becomes
 *
 *   envelope = u8 codec (0 stored, 1 zstd) | u32 rawLength | body
 *   stored   = envelope, or AES-256-GCM(envelope) | tag when encrypted (segment-crypto.ts)
 *
 * and is framed in the segment like a record, `u32 length | u64 xxh64(stored) | stored`,
 * so the per-block and whole-segment checksums and the SHA-256 chain cover the stored
 * bytes and verify without any key. The index keeps one entry per record, pointing at
 * its block and at its frame inside the opened block: seeking to a record opens one block.
 * When compressed (bit0), the index is stored as an envelope too (never encrypted): at
 * about 30 bytes a record it would otherwise be a fifth of a compressed segment.
 *
 * Why blocks, not the whole records region or each record alone: per-record zstd on
 * typical records (0.5-6 KB) compresses about 3× and runs at ~40 MiB/s (per-call
 * overhead); 256 KiB blocks compress about 10× at ~300-400 MiB/s, close to whole-segment
 * compression, while a damaged block is still pinned to its offset and a single record
 * is reachable without decompressing the segment (docs/benchmarks.md, "Segment compression").
 */
export const DEFAULT_BLOCK_BYTES = 256 * 1024;
export const BLOCK_CODEC_STORED = 0;
export const BLOCK_CODEC_ZSTD = 1;
const ENVELOPE_LENGTH = 5;

export interface RawBlock {
  /** record frames, back to back */
  raw: Uint8Array;
  /** offset of each record's frame in `raw` */
  inner: number[];
}

export interface BlockRecordInput {
  payload: Uint8Array;
}

export function groupIntoBlocks(records: readonly BlockRecordInput[], blockBytes: number): RawBlock[] {
  const groups: BlockRecordInput[][] = [];
  let current: BlockRecordInput[] = [];
  let size = 0;
  for (const r of records) {
    const frame = RECORD_FRAME_LENGTH + r.payload.byteLength;
    if (current.length > 0 && size + frame > blockBytes) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(r);
    size += frame;
  }
  if (current.length > 0) groups.push(current);
  return groups.map((group) => {
    const raw = new Uint8Array(group.reduce((s, r) => s + RECORD_FRAME_LENGTH + r.payload.byteLength, 0));
    const view = new DataView(raw.buffer);
    const inner: number[] = [];
    let at = 0;
    for (const r of group) {
      inner.push(at);
      view.setUint32(at, r.payload.byteLength, true);
      view.setBigUint64(at + 4, xxh64(r.payload), true);
      raw.set(r.payload, at + RECORD_FRAME_LENGTH);
      at += RECORD_FRAME_LENGTH + r.payload.byteLength;
    }
    return { raw, inner };
  });
}

/** Compresses when asked and when it helps; an incompressible or huge block is stored as is. */
export function envelopeOf(raw: Uint8Array, compress: boolean): Uint8Array {
  let codec = BLOCK_CODEC_STORED;
  let body = raw;
  if (compress && raw.byteLength <= MAX_COMPRESSED_BLOCK_INPUT) {
    const packed = zstdCompress(raw);
    if (packed.byteLength < raw.byteLength) {
      codec = BLOCK_CODEC_ZSTD;
      body = packed;
    }
  }
  const out = new Uint8Array(ENVELOPE_LENGTH + body.byteLength);
  out[0] = codec;
  new DataView(out.buffer).setUint32(1, raw.byteLength, true);
  out.set(body, ENVELOPE_LENGTH);
  return out;
}

export function sealBlock(
  envelope: Uint8Array,
  index: number,
  prefix: Uint8Array,
  encryption: { dataKey: Uint8Array; nonce: Uint8Array } | undefined,
): Uint8Array {
  if (!encryption) return envelope;
  return encryptBlock(
    envelope,
    encryption.dataKey,
    blockNonce(encryption.nonce, index),
    blockAad(prefix, index),
  );
}

export interface OpenedBlocks {
  /** raw record frames per block */
  raws: Uint8Array[];
  /** [frameOffset, payloadStart, payloadEnd] inside the raw block, per block */
  frames: [number, number, number][][];
}

/**
 * Opens every block (decrypt, decompress, check each record's xxh64 and that the index
 * points at each record frame). Problems go through `add` with the block's offset in the
 * segment; returns undefined when any block could not be opened completely.
 * `prefix` is the segment's bytes before the first block (the GCM associated data).
 */
export function openBlocks(
  bytes: Uint8Array,
  header: SegmentHeader,
  prefix: Uint8Array,
  blockFrames: readonly [number, number, number][],
  index: readonly SegmentIndexEntry[],
  dataKey: Uint8Array | undefined,
  add: Add,
): OpenedBlocks | undefined {
  const raws: Uint8Array[] = [];
  const frames: [number, number, number][][] = [];
  const expected = innerOffsetsByBlock(blockFrames, index);
  let complete = true;
  blockFrames.forEach(([offset, start, end], i) => {
    const where = `block ${i} at offset ${offset}`;
    let envelope = bytes.subarray(start, end);
    if (header.encryption) {
      if (!dataKey) throw new Error('openBlocks needs the data key of an encrypted segment');
      const plain = decryptBlock(
        envelope,
        dataKey,
        blockNonce(header.encryption.nonce, i),
        blockAad(prefix, i),
      );
      if (!plain) {
        add(
          'decrypt-failed',
          offset,
          `${where} does not decrypt with the segment's data key (key id ${header.encryption.keyId}): ` +
            'the master key is not the one it was written with, or the segment was altered and its checksums recomputed',
        );
        complete = false;
        return;
      }
      envelope = plain;
    }
    let raw: Uint8Array;
    try {
      raw = openEnvelope(envelope, header.compression !== undefined);
    } catch (err) {
      if (!(err instanceof ShapeError)) throw err;
      add('block-corrupt', offset, `${where} cannot be opened: ${err.message}`);
      complete = false;
      return;
    }
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const inner = walkRecords(
      raw,
      view,
      0,
      raw.byteLength,
      (kind, _at, message) => add(kind, offset, `${where}, opened: ${message}`),
      'the end of the block',
    );
    if (!inner) {
      complete = false;
      return;
    }
    const want = expected[i] ?? [];
    if (inner.length !== want.length || inner.some(([at], j) => at !== want[j])) {
      add(
        'index-corrupt',
        offset,
        `${where} holds records at ${inner.map(([at]) => at).join(',')} inside the block, the index says ${want.join(',')}`,
      );
      complete = false;
      return;
    }
    raws.push(raw);
    frames.push(inner);
  });
  return complete ? { raws, frames } : undefined;
}

/** Throws ShapeError when the envelope is malformed or its codec not allowed. */
export function openEnvelope(envelope: Uint8Array, compressed: boolean): Uint8Array {
  if (envelope.byteLength < ENVELOPE_LENGTH) throw new ShapeError('it is shorter than its envelope');
  const codec = envelope[0];
  const rawLength = new DataView(envelope.buffer, envelope.byteOffset, envelope.byteLength).getUint32(
    1,
    true,
  );
  const body = envelope.subarray(ENVELOPE_LENGTH);
  if (codec === BLOCK_CODEC_STORED) {
    if (body.byteLength !== rawLength)
      throw new ShapeError(`it holds ${body.byteLength} bytes, its envelope says ${rawLength}`);
    return body;
  }
  if (codec === BLOCK_CODEC_ZSTD && compressed) return zstdDecompress(body, rawLength);
  throw new ShapeError(`codec ${codec} is not one the segment's flags allow`);
}

/** the index's inner offsets grouped by block (the index was checked against the blocks already) */
function innerOffsetsByBlock(
  blockFrames: readonly [number, number, number][],
  index: readonly SegmentIndexEntry[],
): number[][] {
  const blockAt = new Map(blockFrames.map(([offset], i) => [offset, i]));
  const out: number[][] = blockFrames.map(() => []);
  for (const e of index) {
    const b = blockAt.get(e.offset);
    if (b !== undefined && e.inner !== undefined) out[b]!.push(e.inner);
  }
  return out;
}
