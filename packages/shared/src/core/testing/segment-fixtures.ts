import type { TransactionRecord } from '../change-model.js';
import { sha256, xxh64 } from '../checksum.js';
import { encodeRecord } from '../record-codec.js';
import { type EncodedSegment, encodeSegment, type SegmentRecordInput } from '../segment-encoder.js';
import { RECORD_FRAME_LENGTH, SEGMENT_FOOTER_LENGTH } from '../segment-format.js';

/**
 * Test-only helpers (not exported from the package): realistic segments, and "forgers"
 * that rewrite a segment's checksums after a change, as an attacker could, to show which
 * check still catches it.
 */
export const T0 = 1_795_430_467_000_000n;
export const GENESIS = 'a'.repeat(64);

export function txAt(lsn: bigint, time: bigint = T0 + lsn): TransactionRecord {
  return {
    source: 'main',
    xid: Number(lsn % 1_000_000n),
    commitLsn: lsn,
    endLsn: lsn + 8n,
    commitTime: time,
    relations: [
      {
        oid: 16_384,
        schema: 'public',
        table: 'orders',
        replicaIdentity: 'default',
        columns: [
          { name: 'id', typeOid: 20, typeMod: -1, key: true },
          { name: 'note', typeOid: 25, typeMod: -1, key: false },
        ],
      },
    ],
    changes: [{ op: 'insert', rel: 0, new: { values: [String(lsn), `note ${lsn} ü😀`] } }],
  };
}

export function recordInputs(lsns: readonly bigint[]): SegmentRecordInput[] {
  return lsns.map((lsn) => {
    const tx = txAt(lsn);
    return { payload: encodeRecord(tx), commitLsn: tx.commitLsn, commitTime: tx.commitTime };
  });
}

export function segmentOf(lsns: readonly bigint[], prevSha256 = GENESIS, source = 'main'): EncodedSegment {
  return encodeSegment({
    source,
    prevSha256,
    createdAt: '2026-11-23T10:41:08.000Z',
    records: recordInputs(lsns),
  });
}

/** Recomputes the footer's xxh64 and SHA-256 over the (changed) bytes before it. */
export function resealFooter(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  const footer = out.length - SEGMENT_FOOTER_LENGTH;
  const body = out.subarray(0, footer);
  new DataView(out.buffer).setBigUint64(footer + 12, xxh64(body), true);
  out.set(sha256(body), footer + 20);
  return out;
}

/** Recomputes a record's xxh64 in place (its frame starts at `offset`). */
export function resealRecord(bytes: Uint8Array, offset: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const length = view.getUint32(offset, true);
  const payload = bytes.subarray(offset + RECORD_FRAME_LENGTH, offset + RECORD_FRAME_LENGTH + length);
  view.setBigUint64(offset + 4, xxh64(payload), true);
}

/** Replaces `from` with `to` (same length) at its first occurrence after `start`. */
export function replaceBytes(bytes: Uint8Array, from: Uint8Array, to: Uint8Array, start = 0): Uint8Array {
  if (from.length !== to.length) throw new Error('replacement must keep the length');
  const out = Uint8Array.from(bytes);
  for (let i = start; i + from.length <= out.length; i++) {
    if (from.every((b, j) => out[i + j] === b)) {
      out.set(to, i);
      return out;
    }
  }
  throw new Error('pattern not found');
}
