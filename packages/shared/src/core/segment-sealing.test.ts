import { describe, expect, it } from 'vitest';
import { initChecksums, sha256Hex, xxh64 } from './checksum.js';
import { zstdCompress, zstdFrameContentSize } from './compression.js';
import { isTidemarkError, type TidemarkError } from './errors.js';
import { decodeRecord } from './record-codec.js';
import { openEnvelope } from './segment-blocks.js';
import { type EncodedSegment, encodeSegment, type SegmentSealing } from './segment-encoder.js';
import {
  decodeHeader,
  decodeIndex,
  RECORD_FRAME_LENGTH,
  SEGMENT_FOOTER_LENGTH,
  SEGMENT_PREAMBLE_LENGTH,
} from './segment-format.js';
import { readSegment } from './segment-reader.js';
import { type SegmentProblemKind, verifySegment } from './segment-verifier.js';
import {
  GENESIS,
  recordInputs,
  replaceBytes,
  resealFooter,
  resealRecord,
  T0,
  txAt,
} from './testing/segment-fixtures.js';
import { V1_GOLDEN_SEGMENT } from './testing/v1-golden-segment.js';

await initChecksums();

const KEY = 'main/segments/2026/11/23/10/0000000000001000-0000000000002000.seg';
const DATA_KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const OTHER_KEY = Uint8Array.from({ length: 32 }, (_, i) => 200 - i);
const WRAPPED = new Uint8Array(61).fill(0x77);
const NONCE = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i);
const encryption = { dataKey: DATA_KEY, keyId: 'test-key', wrappedKey: WRAPPED, nonce: NONCE };

const COMBOS: [string, SegmentSealing, number][] = [
  ['plain', {}, 0],
  ['compressed', { compression: 'zstd' }, 1],
  ['encrypted', { encryption }, 2],
  ['compressed and encrypted', { compression: 'zstd', encryption }, 3],
];

/** 40 small records, one larger than a block, one incompressible */
function inputs() {
  const records = recordInputs(Array.from({ length: 40 }, (_, i) => 0x1000n + BigInt(i) * 0x40n));
  records[7] = { ...records[7]!, payload: new Uint8Array(5000).fill(0x41) };
  records[20] = {
    ...records[20]!,
    payload: Uint8Array.from({ length: 700 }, () => Math.floor(Math.random() * 256)),
  };
  return records;
}

function sealed(sealing: SegmentSealing, records = inputs(), prevSha256 = GENESIS): EncodedSegment {
  return encodeSegment(
    { source: 'main', prevSha256, createdAt: '2026-11-23T10:41:08.000Z', records },
    { blockBytes: 1024, ...sealing },
  );
}

function thrown(fn: () => unknown): TidemarkError {
  try {
    fn();
  } catch (err) {
    if (isTidemarkError(err)) return err;
    throw err;
  }
  throw new Error('expected a TidemarkError, got data');
}

const kinds = (bytes: Uint8Array, dataKey?: Uint8Array): SegmentProblemKind[] =>
  verifySegment(bytes, dataKey ? { dataKey } : {}).problems.map((p) => p.kind);

/** [offset, storedStart, storedEnd] of every frame between the header and the index */
function framesOf(bytes: Uint8Array): [number, number, number][] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const footer = bytes.length - SEGMENT_FOOTER_LENGTH;
  const indexOffset = Number(v.getBigUint64(footer, true));
  const out: [number, number, number][] = [];
  for (let at = SEGMENT_PREAMBLE_LENGTH + v.getUint32(12, true); at < indexOffset; ) {
    const len = v.getUint32(at, true);
    out.push([at, at + RECORD_FRAME_LENGTH, at + RECORD_FRAME_LENGTH + len]);
    at += RECORD_FRAME_LENGTH + len;
  }
  return out;
}

describe('compressed and encrypted segments', () => {
  it.each(COMBOS)('round-trips %s records', (_, sealing, flags) => {
    const records = inputs();
    const seg = sealed(sealing, records);
    const read = readSegment(seg.bytes, KEY, { dataKey: DATA_KEY });
    expect(new DataView(seg.bytes.buffer).getUint16(10, true)).toBe(flags);
    expect(read.header).toEqual(seg.header);
    expect(read.sha256).toBe(seg.sha256);
    expect(read.sha256).toBe(sha256Hex(seg.bytes.subarray(0, seg.bytes.length - SEGMENT_FOOTER_LENGTH)));
    expect(read.records.map((r) => r.payload)).toEqual(records.map((r) => r.payload));
    expect(read.records.map((r) => [r.commitLsn, r.commitTime])).toEqual(
      records.map((r) => [r.commitLsn, r.commitTime]),
    );
    expect(decodeRecord(read.records[3]!.payload)).toEqual(txAt(0x1000n + 3n * 0x40n));
    expect(seg.recordBytes).toBe(records.reduce((s, r) => s + 12 + r.payload.byteLength, 0));
    const v = verifySegment(seg.bytes, { dataKey: DATA_KEY });
    expect(v.ok).toBe(true);
    if (flags === 0) expect(v.sealing).toBeUndefined();
    else
      expect(v.sealing).toEqual({
        compressed: (flags & 1) === 1,
        encrypted: (flags & 2) === 2,
        ...(flags & 2 ? { keyId: 'test-key' } : {}),
        contentVerified: true,
      });
  });

  it('lays out blocks as documented: framed like records, checksums over the stored bytes', () => {
    const seg = sealed({ compression: 'zstd', encryption });
    const b = seg.bytes;
    const v = new DataView(b.buffer);
    const header = decodeHeader(
      b.subarray(SEGMENT_PREAMBLE_LENGTH, SEGMENT_PREAMBLE_LENGTH + v.getUint32(12, true)),
    );
    expect(header).toMatchObject({
      compression: 'zstd',
      encryption: { algorithm: 'AES-256-GCM', keyId: 'test-key', wrappedKey: WRAPPED, nonce: NONCE },
      recordCount: 40,
    });
    const frames = framesOf(b);
    expect(frames.length).toBe(header.blockCount);
    expect(frames.length).toBeGreaterThan(3);
    for (const [at, start, end] of frames)
      expect(v.getBigUint64(at + 4, true)).toBe(xxh64(b.subarray(start, end)));
    const footer = b.length - SEGMENT_FOOTER_LENGTH;
    // compressed: the index is an envelope (u8 codec | u32 rawLength | zstd), not encrypted
    const stored = b.subarray(Number(v.getBigUint64(footer, true)), footer);
    expect(stored[0]).toBe(1);
    const index = decodeIndex(openEnvelope(stored, true), true);
    expect(index.length).toBe(40);
    expect(new Set(index.map((e) => e.offset))).toEqual(new Set(frames.map(([at]) => at)));
    expect(index[0]).toMatchObject({ offset: frames[0]![0], inner: 0 });
    // the record larger than a block has a block of its own
    expect(index.filter((e) => e.offset === index[7]!.offset)).toHaveLength(1);
  });

  it('compresses typical records', () => {
    const many = recordInputs(Array.from({ length: 400 }, (_, i) => 0x1000n + BigInt(i) * 0x40n));
    const plain = sealed({}, many).bytes.byteLength;
    const zstd = encodeSegment(
      { source: 'main', prevSha256: GENESIS, createdAt: '2026-11-23T10:41:08.000Z', records: many },
      { compression: 'zstd' },
    ).bytes.byteLength;
    expect(zstd).toBeLessThan(plain / 2); // the index (about 30 bytes a record) stays uncompressed
  });

  it('still reads a plain v1 segment written before compression existed', () => {
    const bytes = Uint8Array.from(Buffer.from(V1_GOLDEN_SEGMENT.base64, 'base64'));
    const read = readSegment(bytes, KEY);
    expect(read.sha256).toBe(V1_GOLDEN_SEGMENT.sha256);
    expect(read.records.map((r) => decodeRecord(r.payload))).toEqual([txAt(0x1000n), txAt(0x1010n)]);
    expect(verifySegment(bytes)).toMatchObject({ ok: true, problems: [] });
    expect(verifySegment(bytes).sealing).toBeUndefined();
    // and writing plain today gives the very same bytes
    expect(
      encodeSegment({
        source: 'main',
        prevSha256: GENESIS,
        createdAt: '2026-11-23T10:41:08.000Z',
        records: recordInputs([0x1000n, 0x1010n]),
      }).bytes,
    ).toEqual(bytes);
  });
});

describe('encrypted segments fail closed', () => {
  const seg = sealed({ compression: 'zstd', encryption });

  it('verifies every checksum without the key, and refuses to read without it', () => {
    expect(verifySegment(seg.bytes)).toMatchObject({
      ok: true,
      sealing: { encrypted: true, keyId: 'test-key', contentVerified: false },
    });
    const err = thrown(() => readSegment(seg.bytes, KEY));
    expect(err.code).toBe('DECRYPT_FAILED');
    expect(err.message).toContain(KEY);
    expect(err.details).toMatchObject({ key: KEY, kind: 'key-required', keyId: 'test-key' });
  });

  it('fails with a wrong key, naming the segment and the block', () => {
    const err = thrown(() => readSegment(seg.bytes, KEY, { dataKey: OTHER_KEY }));
    expect(err.code).toBe('DECRYPT_FAILED');
    expect(err.httpStatus).toBe(500);
    expect(err.message).toContain(KEY);
    expect(err.message).toMatch(/at offset \d+/);
    expect(err.details).toMatchObject({ key: KEY, kind: 'decrypt-failed' });
    expect(kinds(seg.bytes, OTHER_KEY)).toContain('decrypt-failed');
    expect(err.message).not.toContain(Buffer.from(OTHER_KEY).toString('hex'));
  });

  it('catches a flipped bit anywhere with the checksums, before decrypting', () => {
    const bytes = sealed(
      { compression: 'zstd', encryption },
      recordInputs([0x1000n, 0x1040n, 0x1080n]),
    ).bytes;
    for (let at = 0; at < bytes.length; at++) {
      const bad = Uint8Array.from(bytes);
      bad[at]! ^= 0x10;
      // without any key: the stored bytes alone show it
      expect(verifySegment(bad).ok, `flip at ${at}`).toBe(false);
      expect(kinds(bad)).not.toContain('decrypt-failed');
      // with the key: reported as corruption found by a checksum, not as a decryption failure
      const err = thrown(() => readSegment(bad, KEY, { dataKey: DATA_KEY }));
      expect(err.code, `flip at ${at}`).toBe('SEGMENT_CORRUPT');
      expect(err.details).toMatchObject({ key: KEY, offset: expect.any(Number) });
    }
  });

  it('catches ciphertext changed with every checksum recomputed (a forger without the key)', () => {
    const [at, start] = framesOf(seg.bytes)[1]!;
    const forged = Uint8Array.from(seg.bytes);
    forged[start + 3]! ^= 0x01;
    resealRecord(forged, at);
    const resealed = resealFooter(forged);
    expect(verifySegment(resealed).ok).toBe(true); // what can be checked without the key holds
    expect(kinds(resealed, DATA_KEY)).toEqual(['decrypt-failed']);
    expect(verifySegment(resealed, { dataKey: DATA_KEY }).problems[0]!.offset).toBe(at);
    expect(thrown(() => readSegment(resealed, KEY, { dataKey: DATA_KEY })).code).toBe('DECRYPT_FAILED');
  });

  // two segments of the same shape under the same data key and nonce (the worst case):
  // only the associated data (each segment's own header, and the block's position) differs
  const sameShape = (prev: string) =>
    sealed(
      { encryption },
      Array.from({ length: 6 }, (_, i) => ({
        payload: new Uint8Array(400).fill(i),
        commitLsn: 0x1000n + BigInt(i),
        commitTime: T0 + BigInt(i),
      })),
      prev,
    ).bytes;

  it('does not decrypt blocks moved from another segment', () => {
    const a = sameShape(GENESIS);
    const b = sameShape('b'.repeat(64));
    const fa = framesOf(a);
    const forged = Uint8Array.from(a);
    const first = fa[0]![0];
    const end = fa.at(-1)![2];
    forged.set(b.subarray(first, end), first); // B's blocks (checksums included) in A
    const resealed = resealFooter(forged);
    expect(verifySegment(resealed).ok).toBe(true);
    expect(kinds(resealed, DATA_KEY)).toContain('decrypt-failed');
    expect(readSegment(a, KEY, { dataKey: DATA_KEY }).records).toHaveLength(6);
  });

  it('does not decrypt blocks put in another order', () => {
    const a = sameShape(GENESIS);
    const [f0, f1] = framesOf(a);
    expect(f0![2] - f0![0]).toBe(f1![2] - f1![0]);
    const forged = Uint8Array.from(a);
    forged.set(a.subarray(f1![0], f1![2]), f0![0]);
    forged.set(a.subarray(f0![0], f0![2]), f1![0]);
    // blocks of the same size: the index stays consistent, every checksum is recomputed
    const resealed = resealFooter(forged);
    expect(verifySegment(resealed).ok).toBe(true);
    expect(kinds(resealed, DATA_KEY)).toEqual(['decrypt-failed', 'decrypt-failed']);
  });

  it('does not decrypt under a header from another segment (wrapped key or identity swapped)', () => {
    const a = sameShape(GENESIS);
    // the same blocks under another prevSha256: the object's identity is the associated data
    const renamed = resealFooter(
      replaceBytes(a, new TextEncoder().encode(GENESIS), new TextEncoder().encode('c'.repeat(64))),
    );
    expect(verifySegment(renamed).ok).toBe(true);
    expect(kinds(renamed, DATA_KEY)).toEqual(Array(framesOf(a).length).fill('decrypt-failed'));
    // another wrapped key in the header (even if it unwrapped to the same data key)
    const rewrapped = resealFooter(replaceBytes(a, WRAPPED, new Uint8Array(61).fill(0x78)));
    expect(kinds(rewrapped, DATA_KEY)).toContain('decrypt-failed');
  });

  it('never returns data from randomly damaged sealed segments (property)', () => {
    for (const [, sealing] of COMBOS.slice(1)) {
      const big = sealed(sealing);
      for (let iteration = 0; iteration < 150; iteration++) {
        const bad = Uint8Array.from(big.bytes);
        const flips = 1 + Math.floor(Math.random() * 4);
        for (let f = 0; f < flips; f++) {
          const at = Math.floor(Math.random() * bad.length);
          bad[at] = (bad[at]! + 1 + Math.floor(Math.random() * 255)) & 0xff;
        }
        const damaged = Math.random() < 0.2 ? bad.subarray(0, Math.floor(Math.random() * bad.length)) : bad;
        const err = thrown(() => readSegment(damaged, KEY, { dataKey: DATA_KEY }));
        expect(err.details.key).toBe(KEY);
        expect(err.code).toBe('SEGMENT_CORRUPT');
      }
    }
  });
});

describe('compressed blocks are bounded', () => {
  it('rejects a block whose zstd frame does not declare the size its envelope says (forged)', () => {
    const seg = sealed({ compression: 'zstd' }, recordInputs([0x1000n, 0x1040n]));
    const [at, start] = framesOf(seg.bytes)[0]!;
    const forged = Uint8Array.from(seg.bytes);
    const v = new DataView(forged.buffer);
    v.setUint32(start + 1, 200 * 1024 * 1024, true); // envelope's raw length
    resealRecord(forged, at);
    const resealed = resealFooter(forged);
    expect(kinds(resealed)).toEqual(['block-corrupt']);
    const err = thrown(() => readSegment(resealed, KEY));
    expect(err.code).toBe('SEGMENT_CORRUPT');
    expect(err.details).toMatchObject({ offset: at, kind: 'block-corrupt' });
  });

  it('reads the content size of zstd frames of every header size', () => {
    for (const n of [1, 100, 255, 256, 300, 65_791, 70_000, 5_000_000]) {
      const data = new Uint8Array(n).map((_, i) => i % 7);
      expect(zstdFrameContentSize(zstdCompress(data))).toBe(n);
    }
    expect(zstdFrameContentSize(new Uint8Array([1, 2, 3, 4, 5, 6]))).toBeUndefined();
  });
});
