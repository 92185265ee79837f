import { describe, expect, it } from 'vitest';
import { initChecksums, sha256Hex } from './checksum.js';
import { isTidemarkError, type TidemarkError } from './errors.js';
import { decodeRecord, encodeRecord } from './record-codec.js';
import { encodeSegment } from './segment-encoder.js';
import {
  encodeHeader,
  encodeIndex,
  SEGMENT_FOOTER_LENGTH,
  SEGMENT_PREAMBLE_LENGTH,
} from './segment-format.js';
import { findFirstRecordAfterTime, readSegment } from './segment-reader.js';
import { type SegmentProblemKind, verifySegment } from './segment-verifier.js';
import {
  GENESIS,
  recordInputs,
  replaceBytes,
  resealFooter,
  resealRecord,
  segmentOf,
  T0,
  txAt,
} from './testing/segment-fixtures.js';

const KEY = 'main/segments/2026/11/23/10/0000000000001000-0000000000001030.seg';

function readError(bytes: Uint8Array): TidemarkError {
  try {
    readSegment(bytes, KEY);
  } catch (err) {
    if (isTidemarkError(err, 'SEGMENT_CORRUPT')) return err;
    throw err;
  }
  throw new Error('readSegment returned data from a damaged segment');
}

function kinds(bytes: Uint8Array): SegmentProblemKind[] {
  return verifySegment(bytes).problems.map((p) => p.kind);
}

// top-level: describe bodies below build segments while tests are collected
await initChecksums();

describe('segment format v1', () => {
  it('round-trips records, header and hash', () => {
    const seg = segmentOf([0x1000n, 0x1010n, 0x1030n]);
    const read = readSegment(seg.bytes, KEY);
    expect(read.header).toEqual(seg.header);
    expect(read.header).toMatchObject({
      source: 'main',
      firstLsn: 0x1000n,
      lastLsn: 0x1030n,
      recordCount: 3,
      prevSha256: GENESIS,
    });
    expect(read.header.firstCommitTime).toBe(T0 + 0x1000n);
    expect(read.header.lastCommitTime).toBe(T0 + 0x1030n);
    expect(read.sha256).toBe(seg.sha256);
    expect(read.sha256).toBe(sha256Hex(seg.bytes.subarray(0, seg.bytes.length - SEGMENT_FOOTER_LENGTH)));
    expect(read.records.map((r) => r.commitLsn)).toEqual([0x1000n, 0x1010n, 0x1030n]);
    expect(read.records.map((r) => decodeRecord(r.payload))).toEqual([
      txAt(0x1000n),
      txAt(0x1010n),
      txAt(0x1030n),
    ]);
    expect(read.records[0]!.offset).toBeGreaterThan(SEGMENT_PREAMBLE_LENGTH);
    expect(verifySegment(seg.bytes)).toEqual({
      ok: true,
      header: seg.header,
      sha256: seg.sha256,
      problems: [],
    });
  });

  it('lays out the bytes as documented', () => {
    const seg = segmentOf([0x1000n]);
    const b = seg.bytes;
    const v = new DataView(b.buffer);
    expect(new TextDecoder().decode(b.subarray(0, 8))).toBe('TMSEG001');
    expect(v.getUint16(8, true)).toBe(1);
    expect(v.getUint16(10, true)).toBe(0);
    const headerLength = v.getUint32(12, true);
    expect(b.subarray(16, 16 + headerLength)).toEqual(encodeHeader(seg.header));
    const first = 16 + headerLength;
    const payload = encodeRecord(txAt(0x1000n));
    expect(v.getUint32(first, true)).toBe(payload.length);
    expect(b.subarray(first + 12, first + 12 + payload.length)).toEqual(payload);
    const footer = b.length - 60;
    const indexOffset = Number(v.getBigUint64(footer, true));
    expect(indexOffset).toBe(first + 12 + payload.length);
    expect(b.subarray(indexOffset, footer)).toEqual(
      encodeIndex([{ commitTime: T0 + 0x1000n, commitLsn: 0x1000n, offset: first }]),
    );
    expect(v.getUint32(footer + 8, true)).toBe(footer - indexOffset);
    expect(new TextDecoder().decode(b.subarray(b.length - 8))).toBe('TMSEGEND');
  });

  it('keeps extreme LSNs and times before 1970', () => {
    const max = (1n << 64n) - 1n;
    const seg = encodeSegment({
      source: 'main',
      prevSha256: GENESIS,
      createdAt: '2026-11-23T10:41:08Z',
      records: [
        { payload: new Uint8Array(0), commitLsn: max - 1n, commitTime: -5n },
        { payload: new Uint8Array([1]), commitLsn: max, commitTime: -(1n << 63n) },
      ],
    });
    const read = readSegment(seg.bytes);
    expect(read.header).toMatchObject({
      firstLsn: max - 1n,
      lastLsn: max,
      firstCommitTime: -5n,
      lastCommitTime: -(1n << 63n),
    });
    expect(read.records.map((r) => [r.commitLsn, r.commitTime, r.payload.length])).toEqual([
      [max - 1n, -5n, 0],
      [max, -(1n << 63n), 1],
    ]);
  });

  it.each([
    ['no records', { records: [] }, /at least one record/],
    ['repeated LSN', { records: recordInputs([5n, 5n]) }, /not after/],
    ['decreasing LSN', { records: recordInputs([6n, 5n]) }, /not after/],
    ['bad prevSha256', { prevSha256: 'ABC' }, /prevSha256/],
    ['bad source', { source: 'Main!' }, /source/],
    ['bad createdAt', { createdAt: 'yesterday' }, /createdAt/],
  ])('refuses to encode a segment with %s', (_, override, message) => {
    const input = {
      source: 'main',
      prevSha256: GENESIS,
      createdAt: '2026-11-23T10:41:08Z',
      records: recordInputs([1n]),
      ...override,
    };
    expect(() => encodeSegment(input)).toThrow(message);
  });
});

describe('segment damage is detected', () => {
  const seg = segmentOf([0x1000n, 0x1010n, 0x1030n]);
  const bytes = seg.bytes;
  const footer = bytes.length - SEGMENT_FOOTER_LENGTH;
  const records = readSegment(bytes).records;

  it('finds a flipped bit at every single offset, and names key, offset and kind', () => {
    for (let at = 0; at < bytes.length; at++) {
      for (const bit of [0x01, 0x80]) {
        const bad = Uint8Array.from(bytes);
        bad[at]! ^= bit;
        expect(verifySegment(bad).ok, `flip at ${at}`).toBe(false);
        const err = readError(bad);
        expect(err.message).toContain(KEY);
        expect(err.message).toMatch(/at offset \d+/);
        expect(err.details).toMatchObject({ key: KEY, offset: expect.any(Number), kind: expect.any(String) });
      }
    }
  });

  it('says which part was damaged', () => {
    const flip = (at: number) => {
      const bad = Uint8Array.from(bytes);
      bad[at]! ^= 0xff;
      return bad;
    };
    expect(kinds(flip(0))).toEqual(['bad-magic']);
    expect(kinds(flip(8))).toEqual(['unsupported-version']);
    expect(kinds(flip(10))).toEqual(['unsupported-flags']);
    expect(kinds(flip(SEGMENT_PREAMBLE_LENGTH + 3))).toEqual(
      expect.arrayContaining(['segment-checksum', 'sha256-mismatch']),
    );
    const payloadByte = records[1]!.offset + 12 + 5;
    expect(kinds(flip(payloadByte))).toEqual(['segment-checksum', 'sha256-mismatch', 'record-checksum']);
    expect(verifySegment(flip(payloadByte)).problems[2]!.offset).toBe(records[1]!.offset);
    expect(kinds(flip(footer - 3))).toEqual(expect.arrayContaining(['segment-checksum', 'sha256-mismatch']));
    expect(kinds(flip(footer))).toEqual(['index-corrupt']);
    expect(kinds(flip(footer + 9))).toEqual(['index-corrupt']);
    expect(kinds(flip(footer + 13))).toEqual(['segment-checksum']);
    expect(kinds(flip(footer + 40))).toEqual(['sha256-mismatch']);
    expect(kinds(flip(bytes.length - 1))).toEqual(['truncated']);
  });

  it('finds truncation at every length, and extra bytes', () => {
    for (let len = 0; len < bytes.length; len++) {
      expect(verifySegment(bytes.subarray(0, len)).ok, `truncated to ${len}`).toBe(false);
      expect(readError(bytes.subarray(0, len)).details.key).toBe(KEY);
    }
    expect(kinds(new Uint8Array([...bytes, 0]))).toEqual(['truncated']);
    expect(kinds(new Uint8Array(0))).toEqual(['truncated']);
  });

  const note = (lsn: number) => new TextEncoder().encode(`note ${lsn}`);

  it('catches a payload rewritten with a recomputed record xxh64 by the whole-segment checks', () => {
    const forged = replaceBytes(bytes, note(0x1010), note(9999));
    resealRecord(forged, records[1]!.offset);
    expect(kinds(forged)).toEqual(['segment-checksum', 'sha256-mismatch']);
  });

  it('catches a forged segment whose xxh64s were all recomputed but whose SHA-256 was not', () => {
    const forged = replaceBytes(bytes, note(0x1010), note(9999));
    resealRecord(forged, records[1]!.offset);
    const resealed = resealFooter(forged);
    resealed.set(bytes.subarray(footer + 20, footer + 52), footer + 20); // the old SHA-256
    expect(kinds(resealed)).toEqual(['sha256-mismatch']);
    // fully resealed, the segment is self-consistent: only the hash chain can tell (chain-verifier.test.ts)
    expect(verifySegment(resealFooter(forged)).ok).toBe(true);
  });

  it('cross-checks the index against the header and LSN order', () => {
    const read = readSegment(bytes);
    const index = read.records.map((r) => ({
      commitTime: r.commitTime,
      commitLsn: r.commitLsn,
      offset: r.offset,
    }));
    const withIndex = (entries: typeof index) =>
      resealFooter(
        replaceBytes(bytes, encodeIndex(index), encodeIndex(entries), footer - encodeIndex(index).length),
      );

    const swapped = [index[1]!, index[0]!, index[2]!].map((e, i) => ({ ...e, offset: index[i]!.offset }));
    expect(kinds(withIndex(swapped))).toEqual(['lsn-order', 'header-mismatch']);
    const laterTime = index.map((e, i) => (i === 2 ? { ...e, commitTime: e.commitTime + 1n } : e));
    expect(kinds(withIndex(laterTime))).toEqual(['header-mismatch']);
    const wrongOffset = index.map((e, i) => (i === 1 ? { ...e, offset: e.offset + 1 } : e));
    expect(kinds(withIndex(wrongOffset))).toEqual(['index-corrupt']);
    expect(readError(withIndex(laterTime)).details.kind).toBe('header-mismatch');
  });

  it('cross-checks the record count in the header', () => {
    const h = encodeHeader(seg.header);
    const wrong = encodeHeader({ ...seg.header, recordCount: 4 });
    expect(kinds(resealFooter(replaceBytes(bytes, h, wrong)))).toEqual(['header-mismatch']);
  });

  it('never returns data from randomly damaged segments (property)', () => {
    const big = segmentOf(Array.from({ length: 40 }, (_, i) => 0x1000n + BigInt(i) * 0x40n));
    for (let iteration = 0; iteration < 400; iteration++) {
      const bad = Uint8Array.from(big.bytes);
      const flips = 1 + Math.floor(Math.random() * 4);
      for (let f = 0; f < flips; f++) {
        const at = Math.floor(Math.random() * bad.length);
        bad[at] = (bad[at]! + 1 + Math.floor(Math.random() * 255)) & 0xff;
      }
      const damaged = Math.random() < 0.2 ? bad.subarray(0, Math.floor(Math.random() * bad.length)) : bad;
      expect(readError(damaged).details.key).toBe(KEY);
    }
  });
});

describe('findFirstRecordAfterTime', () => {
  it('finds where a restore to a time stops, even when commit times are out of LSN order', () => {
    const records = [10n, 20n, 35n, 30n, 40n].map((commitTime) => ({ commitTime }));
    expect(findFirstRecordAfterTime(records, 5n)).toBe(0);
    expect(findFirstRecordAfterTime(records, 10n)).toBe(1);
    expect(findFirstRecordAfterTime(records, 31n)).toBe(2);
    expect(findFirstRecordAfterTime(records, 35n)).toBe(4);
    expect(findFirstRecordAfterTime(records, 40n)).toBe(5);
    expect(findFirstRecordAfterTime([], 0n)).toBe(0);
  });
});
