import { formatLsn, type Lsn, xxh64Hex } from '@tidemark/shared';

/**
 * How a journal record travels through Kafka (the journal's `kafka-record-message.ts` reads it;
 * keep the two in step). One topic per source, `${topicPrefix}${source}`; everything goes to
 * partition 0, so the partition is the source's total order; the key is the source name.
 *
 * value:   the record, exactly as `encodeRecord` made it, or one slice of it
 * headers: tidemark-commit-lsn  the record's commit LSN, `X/Y` (on every chunk)
 *          tidemark-end-lsn     the record's end LSN, `X/Y` (on every chunk): what the slot confirms once acked
 *          tidemark-xxh64       xxh64 of the whole encoded record, 16 hex digits (on every chunk)
 *          tidemark-chunk       `i/n` (1-based), only when the record is split into n > 1 chunks
 *
 * A record larger than the chunk size is split into ordered chunks published back to back;
 * the consumer reassembles them and checks the xxh64 before decoding.
 */
export const KAFKA_HEADER_COMMIT_LSN = 'tidemark-commit-lsn';
export const KAFKA_HEADER_XXH64 = 'tidemark-xxh64';
export const KAFKA_HEADER_END_LSN = 'tidemark-end-lsn';
export const KAFKA_HEADER_CHUNK = 'tidemark-chunk';

/** What we count for a message besides its value: key, headers and the record framing. */
const MESSAGE_OVERHEAD_BYTES = 200;

export interface OutgoingMessage {
  readonly key: string;
  readonly value: Buffer;
  readonly headers: Record<string, string>;
  /** estimated bytes on the wire, for sizing produce requests */
  readonly bytes: number;
}

/** Splits one encoded record into the messages that carry it, in order. */
export function recordMessages(
  source: string,
  commitLsn: Lsn,
  payload: Uint8Array,
  maxChunkBytes: number,
  endLsn?: Lsn,
): OutgoingMessage[] {
  if (!Number.isInteger(maxChunkBytes) || maxChunkBytes < 1) {
    throw new RangeError(`chunk size must be a positive integer, got ${maxChunkBytes}`);
  }
  const lsn = formatLsn(commitLsn);
  const xxh = xxh64Hex(payload);
  const whole = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = Math.max(1, Math.ceil(payload.byteLength / maxChunkBytes));
  const out: OutgoingMessage[] = [];
  for (let i = 0; i < count; i++) {
    const value = count === 1 ? whole : whole.subarray(i * maxChunkBytes, (i + 1) * maxChunkBytes);
    const headers: Record<string, string> = { [KAFKA_HEADER_COMMIT_LSN]: lsn, [KAFKA_HEADER_XXH64]: xxh };
    if (endLsn !== undefined) headers[KAFKA_HEADER_END_LSN] = formatLsn(endLsn);
    if (count > 1) headers[KAFKA_HEADER_CHUNK] = `${i + 1}/${count}`;
    out.push({
      key: source,
      value,
      headers,
      bytes: value.byteLength + source.length + MESSAGE_OVERHEAD_BYTES,
    });
  }
  return out;
}

/** Reads the chunk header of a message: undefined for a whole record. */
export function parseChunkHeader(text: string | undefined): { index: number; count: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d{1,9})\/(\d{1,9})$/.exec(text);
  if (!m) throw new RangeError(`malformed ${KAFKA_HEADER_CHUNK} header ${JSON.stringify(text)}`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count) {
    throw new RangeError(`malformed ${KAFKA_HEADER_CHUNK} header ${JSON.stringify(text)}`);
  }
  return { index, count };
}
