import { formatLsn, type ObjectStore, parseSegmentKey, readSegment, segmentsPrefix } from '@tidemark/shared';
import type { ChainHead } from './chain-head.js';
import type { JournalLogger } from './journal-logger.js';

/**
 * A segment stored after the tip is the trace of a crash between writing a segment and
 * moving the tip. It is adopted when it verifies and links to the head (its records are
 * durable and may already have been confirmed upstream), and deleted otherwise (it was
 * never acknowledged, so upstream still has its records).
 */
export async function resolveOrphans(
  store: ObjectStore,
  source: string,
  head: ChainHead,
  logger: JournalLogger,
): Promise<{ head: ChainHead; adopted: { key: string; firstLsn: bigint }[] }> {
  const keys: string[] = [];
  const options = head.segmentKey ? { startAfter: head.segmentKey } : {};
  for await (const obj of store.list(segmentsPrefix(source), options)) keys.push(obj.key);
  let current = head;
  const adopted: { key: string; firstLsn: bigint }[] = [];
  for (const key of keys) {
    let verdict: string | undefined;
    try {
      const seg = readSegment(await store.get(key), key);
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
      verdict = `failed verification (${err instanceof Error ? err.message : String(err)})`;
    }
    logger.warn({ key, reason: verdict }, 'removing an orphan segment beyond the tip');
    await store.delete(key);
  }
  return { head: current, adopted };
}
