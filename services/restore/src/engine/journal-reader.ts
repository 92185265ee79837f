import {
  decodeRecord,
  formatLsn,
  initChecksums,
  isTidemarkError,
  type KeyProvider,
  type Lsn,
  type ObjectStore,
  openSegment,
  parseSegmentKey,
  TidemarkError,
  type TransactionRecord,
} from '@tidemark/shared';
import type { RestorePlan } from './restore-planner.js';

/**
 * The verified records of a plan, in commit-LSN order.
 *
 * Each segment is read whole and checked before any of its records is yielded:
 * openSegment verifies every checksum (of the stored bytes before a compressed or
 * encrypted segment is opened, then of every record); then the chain link (its
 * prevSha256 is the previous segment's SHA-256, the first one's the snapshot manifest's), LSN order and
 * the tip's hash; then every record decodes. So a restore never applies a record from a
 * segment that failed any check (DESIGN.md invariant 5). The next segments are fetched
 * while the current one is applied.
 */
export interface JournalEntry {
  readonly record: TransactionRecord;
  readonly segmentKey: string;
  /** byte offset of the record in its segment */
  readonly offset: number;
}

export interface ReadJournalOptions {
  /** segments fetched ahead of the one being applied (default 2) */
  readonly prefetch?: number;
  readonly onSegmentVerified?: (key: string, records: number, segment: VerifiedSegment) => void;
  /** unwraps the data keys of encrypted segments; without it an encrypted segment fails with DECRYPT_FAILED */
  readonly keys?: KeyProvider;
}

/** What a verified segment holds, for progress: its size and its index (commit order). */
export interface VerifiedSegment {
  readonly bytes: number;
  readonly index: readonly { readonly commitLsn: Lsn; readonly commitTime: bigint }[];
}

export async function* readJournal(
  store: ObjectStore,
  plan: Pick<RestorePlan, 'source' | 'segmentKeys' | 'chainAnchor' | 'snapshotLsn' | 'tip'>,
  options: ReadJournalOptions = {},
): AsyncGenerator<JournalEntry> {
  await initChecksums();
  const keys = plan.segmentKeys;
  const ahead = Math.max(0, options.prefetch ?? 2);
  const fetches: Promise<Uint8Array>[] = [];
  let fetched = 0;
  // keeps segments current..current+ahead requested
  const fill = (current: number): void => {
    while (fetched < keys.length && fetched <= current + ahead) {
      const p = store.get(keys[fetched++] as string);
      // a prefetch may fail before (or without) being awaited: keep that from being "unhandled"
      p.catch(() => {});
      fetches.push(p);
    }
  };
  let expectedPrev = plan.chainAnchor;
  let lastLsn: Lsn = plan.snapshotLsn;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    fill(i);
    let bytes: Uint8Array;
    try {
      bytes = await (fetches.shift() as Promise<Uint8Array>);
    } catch (err) {
      if (isTidemarkError(err, 'OBJECT_NOT_FOUND'))
        throw chainBroken(
          key,
          'missing',
          `journal segment ${key} disappeared from the store while the restore was reading it`,
          err,
        );
      throw err;
    }
    const segment = await openSegment(bytes, key, { keys: options.keys });
    const h = segment.header;
    const parsed = parseSegmentKey(key);
    if (
      !parsed ||
      parsed.firstLsn !== BigInt(h.firstLsn) ||
      parsed.lastLsn !== BigInt(h.lastLsn) ||
      h.source !== plan.source
    )
      throw chainBroken(
        key,
        'key-mismatch',
        `journal segment ${key} holds ${h.source} ${formatLsn(BigInt(h.firstLsn))}-${formatLsn(BigInt(h.lastLsn))}, which its name does not say`,
      );
    if (expectedPrev !== null && h.prevSha256 !== expectedPrev)
      throw chainBroken(
        key,
        'prev-hash',
        `journal segment ${key} does not follow its predecessor (prevSha256 ${h.prevSha256}, expected ${expectedPrev}): a segment is missing, extra or replaced`,
      );
    if ((i > 0 || plan.chainAnchor !== null) && BigInt(h.firstLsn) <= lastLsn)
      throw chainBroken(
        key,
        'lsn-order',
        `journal segment ${key} starts at ${formatLsn(BigInt(h.firstLsn))}, not after ${formatLsn(lastLsn)}`,
      );
    if (plan.tip && key === plan.tip.segmentKey && segment.sha256 !== plan.tip.sha256)
      throw chainBroken(
        key,
        'tip-hash',
        `journal segment ${key} is not the one the tip names (SHA-256 ${segment.sha256}, tip says ${plan.tip.sha256})`,
      );

    const entries: JournalEntry[] = [];
    let prevRecordLsn: Lsn | undefined;
    for (const r of segment.records) {
      const commitLsn = BigInt(r.commitLsn);
      if (prevRecordLsn !== undefined && commitLsn <= prevRecordLsn)
        throw chainBroken(
          key,
          'lsn-order',
          `journal segment ${key} has records out of commit-LSN order at offset ${r.offset}`,
          undefined,
          r.offset,
        );
      prevRecordLsn = commitLsn;
      if (commitLsn <= plan.snapshotLsn) continue; // already in the snapshot
      const record = decode(r.payload, key, r.offset);
      if (record.commitLsn !== commitLsn || record.source !== plan.source)
        throw new TidemarkError(
          'RECORD_CORRUPT',
          `record at offset ${r.offset} of ${key} does not match the segment index`,
          {
            details: { key, offset: r.offset, kind: 'index-mismatch' },
          },
        );
      entries.push({ record, segmentKey: key, offset: r.offset });
    }
    expectedPrev = segment.sha256;
    lastLsn = BigInt(h.lastLsn);
    options.onSegmentVerified?.(key, segment.records.length, {
      bytes: bytes.byteLength,
      index: segment.records,
    });
    yield* entries;
  }
}

function decode(payload: Uint8Array, key: string, offset: number): TransactionRecord {
  try {
    return decodeRecord(payload);
  } catch (err) {
    throw new TidemarkError(
      'RECORD_CORRUPT',
      `record at offset ${offset} of ${key} cannot be decoded: ${String(err)}`,
      {
        cause: err,
        details: { key, offset, kind: 'decode' },
      },
    );
  }
}

function chainBroken(
  key: string,
  kind: string,
  message: string,
  cause?: unknown,
  offset?: number,
): TidemarkError {
  return new TidemarkError('CHAIN_BROKEN', message, {
    cause,
    details: { key, kind, ...(offset === undefined ? {} : { offset }) },
  });
}
