import { formatLsn, type Lsn, parseLsn, TidemarkError, xxh64Hex } from '@tidemark/shared';

/**
 * Reading journal records from Kafka messages. The writer is capture's
 * `kafka-message-format.ts` (keep the two in step): partition 0 of `${topicPrefix}${source}`,
 * value = the encoded record or one chunk of it, headers:
 *   tidemark-commit-lsn  commit LSN `X/Y` (every chunk)
 *   tidemark-xxh64       xxh64 of the whole encoded record, 16 hex digits (every chunk)
 *   tidemark-chunk       `i/n`, 1-based, only on records split into n > 1 chunks
 */
export const KAFKA_HEADER_COMMIT_LSN = 'tidemark-commit-lsn';
export const KAFKA_HEADER_XXH64 = 'tidemark-xxh64';
export const KAFKA_HEADER_CHUNK = 'tidemark-chunk';

type HeaderValue = Buffer | string | (Buffer | string)[] | undefined;

/** One Kafka message as the reassembler sees it. */
export interface IncomingMessage {
  readonly offset: bigint;
  readonly commitLsn: Lsn;
  /** xxh64 of the whole record, lower-case hex */
  readonly xxh64: string;
  /** undefined for a record sent whole */
  readonly chunk: { readonly index: number; readonly count: number } | undefined;
  readonly value: Uint8Array;
}

/** Where a message came from, for error messages an operator can act on. */
export interface MessagePlace {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export function parseIncomingMessage(
  place: MessagePlace,
  message: { value: Buffer | null; headers?: Record<string, HeaderValue> | undefined },
): IncomingMessage {
  const lsnText = headerText(message.headers, KAFKA_HEADER_COMMIT_LSN);
  const xxh = headerText(message.headers, KAFKA_HEADER_XXH64);
  if (lsnText === undefined || xxh === undefined) {
    throw corrupt(
      place,
      `it lacks the ${KAFKA_HEADER_COMMIT_LSN} or ${KAFKA_HEADER_XXH64} header: not written by Tidemark`,
    );
  }
  let commitLsn: Lsn;
  try {
    commitLsn = parseLsn(lsnText);
  } catch {
    throw corrupt(place, `its ${KAFKA_HEADER_COMMIT_LSN} header ${JSON.stringify(lsnText)} is not an LSN`);
  }
  if (!/^[0-9a-f]{16}$/i.test(xxh)) {
    throw corrupt(place, `its ${KAFKA_HEADER_XXH64} header ${JSON.stringify(xxh)} is not 16 hex digits`);
  }
  if (message.value === null) throw corrupt(place, 'it has no value');
  return {
    offset: BigInt(place.offset),
    commitLsn,
    xxh64: xxh.toLowerCase(),
    chunk: parseChunk(place, headerText(message.headers, KAFKA_HEADER_CHUNK)),
    value: message.value,
  };
}

/** Throws RECORD_CORRUPT unless `payload` has the checksum the producer sent. */
export function verifyRecordPayload(
  place: MessagePlace,
  commitLsn: Lsn,
  expectedXxh64: string,
  payload: Uint8Array,
): void {
  const actual = xxh64Hex(payload);
  if (actual !== expectedXxh64) {
    throw corrupt(
      place,
      `the record of commit LSN ${formatLsn(commitLsn)} has xxh64 ${actual}, but the producer sent ${expectedXxh64}: it was damaged on the way and is not archived`,
    );
  }
}

function parseChunk(place: MessagePlace, text: string | undefined): IncomingMessage['chunk'] {
  if (text === undefined) return undefined;
  const m = /^(\d{1,9})\/(\d{1,9})$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count) {
    throw corrupt(place, `its ${KAFKA_HEADER_CHUNK} header ${JSON.stringify(text)} is not of the form i/n`);
  }
  return { index, count };
}

function headerText(headers: Record<string, HeaderValue> | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined ? undefined : first.toString();
}

function corrupt(place: MessagePlace, what: string): TidemarkError {
  return new TidemarkError(
    'RECORD_CORRUPT',
    `Kafka message ${place.topic}[${place.partition}]@${place.offset} is not a valid journal record: ${what}`,
    { details: { ...place } },
  );
}
