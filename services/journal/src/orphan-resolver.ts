import {
  formatLsn,
  isTidemarkError,
  type KeyProvider,
  type ObjectStore,
  openSegment,
  parseSegmentKey,
  type ReadSegment,
  segmentsPrefix,
  verifySegment,
} from '@tidemark/shared';
import type { ChainHead } from './chain-head.js';
import type { JournalLogger } from './journal-logger.js';

/**
 * A segment stored after the tip is the trace of a crash between writing a segment and
 * moving the tip. It is adopted when it verifies and links to the head (its records are
 * durable and may already have been confirmed upstream), and deleted otherwise (it was
 * never acknowledged, so upstream still has its records).
 *
 * An encrypted orphan is decrypted with `keys` when given. Without them (the journal was
 * restarted without its master key) it is judged on what can be checked without the key
 * (every checksum, the SHA-256 and the link to the tip), rather than deleted: deleting
 * would lose records that may have been acknowledged.
 */
export async function resolveOrphans(
  store: ObjectStore,
  source: string,
  head: ChainHead,
  logger: JournalLogger,
  provider?: KeyProvider,
): Promise<{ head: ChainHead; adopted: { key: string; firstLsn: bigint }[] }> {
  const keys: string[] = [];
  const options = head.segmentKey ? { startAfter: head.segmentKey } : {};
  for await (const obj of store.list(segmentsPrefix(source), options)) keys.push(obj.key);
  let current = head;
  const adopted: { key: string; firstLsn: bigint }[] = [];
  for (const key of keys) {
    let verdict: string | undefined;
    try {
      const seg = await readOrphan(await store.get(key), key, provider, logger);
      if (seg.header.prevSha256 !== current.sha256) verdict = 'does not link to the tip';
      else if (seg.header.firstLsn <= current.lastLsn) verdict = 'overlaps the tip';
      else {
        current = {
          sha256: seg.sha256,
          lastLsn: seg.header.lastLsn,
          lastCommitTime: seg.header.lastCommitTime,
          partitionMicros: parseSegmentKey(key)?.partitionHourMicros ?? current.partitionMicros,
          snapshotLsn: current.snapshotLsn,
          segmentKey: key,
        };
        adopted.push({ key, firstLsn: seg.header.firstLsn });
        logger.warn(
          { key, lastLsn: formatLsn(seg.header.lastLsn) },
          'adopted a verified segment found beyond the tip',
        );
        continue;
      }
    } catch (err) {
      // a key that does not unwrap is a configuration problem, not a damaged orphan: keep it
      if (isTidemarkError(err, 'DECRYPT_FAILED') && err.details.kind === 'unwrap-failed') throw err;
      verdict = `failed verification (${err instanceof Error ? err.message : String(err)})`;
    }
    logger.warn({ key, reason: verdict }, 'removing an orphan segment beyond the tip');
    await store.delete(key);
  }
  return { head: current, adopted };
}

async function readOrphan(
  bytes: Uint8Array,
  key: string,
  provider: KeyProvider | undefined,
  logger: JournalLogger,
): Promise<Pick<ReadSegment, 'header' | 'sha256'>> {
  if (!provider) {
    const v = verifySegment(bytes);
    if (!v.ok || !v.header?.encryption || !v.sha256) return openSegment(bytes, key);
    logger.warn(
      { key, keyId: v.header.encryption.keyId },
      'orphan segment is encrypted and no master key is configured: judged on its checksums and chain link only',
    );
    return { header: v.header, sha256: v.sha256 };
  }
  return openSegment(bytes, key, { keys: provider });
}
