import { decodeRecord, type KeyProvider, MESSAGE_PREFIX, openSegment, TidemarkError } from '@tidemark/shared';
import type { ResolvedRestorePoint } from './restore-planner.js';

/**
 * The named restore points in one journal segment. Pure.
 *
 * A restore point is a transactional logical message with the prefix
 * `tidemark.restore_point` whose content is the UTF-8 name; it sits in the transaction
 * that carries it, so the restore point is that transaction's commit. The segment is
 * verified whole first (openSegment, which also opens compressed and encrypted segments).
 * Records are decoded only when their bytes contain the prefix (msgpack stores strings as
 * raw UTF-8): a record without a restore point, the usual case, costs one byte search.
 */
const PREFIX_BYTES = Buffer.from(MESSAGE_PREFIX.restorePoint, 'utf8');
const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function scanSegmentForRestorePoints(
  bytes: Uint8Array,
  key: string,
  keys?: KeyProvider,
): Promise<ResolvedRestorePoint[]> {
  const segment = await openSegment(bytes, key, { keys });
  const out: ResolvedRestorePoint[] = [];
  for (const r of segment.records) {
    if (asBuffer(r.payload).indexOf(PREFIX_BYTES) < 0) continue;
    let record: ReturnType<typeof decodeRecord>;
    try {
      record = decodeRecord(r.payload);
    } catch (err) {
      throw new TidemarkError(
        'RECORD_CORRUPT',
        `record at offset ${r.offset} of ${key} cannot be decoded: ${String(err)}`,
        { cause: err, details: { key, offset: r.offset, kind: 'decode' } },
      );
    }
    for (const change of record.changes) {
      if (change.op !== 'message' || change.prefix !== MESSAGE_PREFIX.restorePoint) continue;
      let name: string;
      try {
        name = utf8.decode(change.content);
      } catch {
        continue; // not a name anyone could ask for
      }
      out.push({ name, commitLsn: record.commitLsn, commitTime: record.commitTime, xid: record.xid });
    }
  }
  return out;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
