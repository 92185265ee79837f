import { randomUUID } from 'node:crypto';
import { type Lsn, parseLsn, TidemarkError } from '@tidemark/shared';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import type { CaptureLogger } from './capture-logger.js';
import { KAFKA_HEADER_CHUNK, KAFKA_HEADER_COMMIT_LSN, parseChunkHeader } from './kafka-message-format.js';

/**
 * The commit LSN of the last complete record on partition 0 of `topic`, or undefined when the
 * partition is empty. The last message may be a chunk of a record whose remaining chunks were
 * never acknowledged: then the message before that record's first chunk is read instead.
 *
 * kafkajs reads only through a consumer group, so this joins a throw-away group (no offsets
 * are committed); brokers delay a new group's first join by group.initial.rebalance.delay.ms
 * (3 s by default), so this takes a few seconds. Capture calls it once at start.
 */
export async function readLastRecordLsn(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  logger: CaptureLogger,
  timeoutMs = 60_000,
): Promise<Lsn | undefined> {
  const range = await partitionRange(admin, topic);
  if (!range || range.high <= range.low) return undefined;
  const consumer = kafka.consumer({
    groupId: `tidemark-tail-${randomUUID()}`,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    maxWaitTimeInMs: 200,
  });
  let want = range.high - 1n;
  let waiter: { resolve: (m: KafkaMessage | undefined) => void } | undefined;
  const deadline = Date.now() + timeoutMs;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, isStale }) => {
        // isStale: fetched before our latest seek
        if (batch.partition !== 0 || !waiter || isStale()) return;
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          // the record was removed by retention: nothing older can be read either
          if (offset > want) return waiter.resolve(undefined);
          if (offset === want) return waiter.resolve(m);
        }
      },
    });
    for (;;) {
      const message = await new Promise<KafkaMessage | undefined>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new TidemarkError(
                'REPLICATION_FAILED',
                `timed out reading offset ${want} of ${topic} from Kafka`,
              ),
            ),
          Math.max(0, deadline - Date.now()),
        );
        waiter = {
          resolve: (m) => {
            clearTimeout(timer);
            waiter = undefined;
            resolve(m);
          },
        };
        consumer.seek({ topic, partition: 0, offset: want.toString() });
      });
      if (!message) return undefined;
      const lsnText = header(message, KAFKA_HEADER_COMMIT_LSN);
      if (lsnText === undefined) {
        throw new TidemarkError(
          'RECORD_CORRUPT',
          `message ${want} of ${topic} has no ${KAFKA_HEADER_COMMIT_LSN} header`,
        );
      }
      const chunk = parseChunkHeader(header(message, KAFKA_HEADER_CHUNK));
      if (!chunk || chunk.index === chunk.count) return parseLsn(lsnText);
      logger.info(
        { topic, offset: want.toString(), chunk },
        'last Kafka message is an incomplete record; looking before it',
      );
      want -= BigInt(chunk.index);
      if (want < range.low) return undefined;
    }
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

async function partitionRange(
  admin: Admin,
  topic: string,
): Promise<{ low: bigint; high: bigint } | undefined> {
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const p0 = offsets.find((o) => o.partition === 0);
    return p0 ? { low: BigInt(p0.low), high: BigInt(p0.high) } : undefined;
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'UNKNOWN_TOPIC_OR_PARTITION' || /does not host this topic/.test(String(err)))
      return undefined;
    throw err;
  }
}

function header(message: KafkaMessage, name: string): string | undefined {
  const v = message.headers?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined ? undefined : first.toString();
}
