import { randomUUID } from 'node:crypto';
import {
  decodeRecord,
  encodeRecord,
  formatLsn,
  initChecksums,
  type TransactionRecord,
  xxh64Hex,
} from '@tidemark/shared';
import { type KafkaBroker, startKafkaBroker } from '@tidemark/testkit';
import { Kafka, type KafkaMessage, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KAFKA_HEADER_CHUNK,
  KAFKA_HEADER_COMMIT_LSN,
  KAFKA_HEADER_XXH64,
  parseChunkHeader,
  recordMessages,
} from './kafka-message-format.js';
import { KafkaTransactionSink } from './kafka-transaction-sink.js';

const T0 = 1_764_000_000_000_000n;

function tx(source: string, lsn: bigint, text = String(lsn)): TransactionRecord {
  return {
    source,
    xid: Number(lsn % 100000n),
    commitLsn: lsn,
    endLsn: lsn + 8n,
    commitTime: T0 + lsn,
    relations: [
      {
        oid: 16384,
        schema: 'public',
        table: 't',
        replicaIdentity: 'default',
        columns: [
          { name: 'id', typeOid: 20, typeMod: -1, key: true },
          { name: 'body', typeOid: 25, typeMod: -1, key: false },
        ],
      },
    ],
    changes: [{ op: 'insert', rel: 0, new: { values: [String(lsn), text] } }],
  };
}

function header(m: KafkaMessage, name: string): string | undefined {
  const v = m.headers?.[name];
  return v === undefined ? undefined : String(Array.isArray(v) ? v[0] : v);
}

let broker: KafkaBroker;
let kafka: Kafka;

/** Every message of partition 0 of `topic`, read through a throw-away consumer group. */
async function readAll(topic: string, count: number): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({
    groupId: `read-${randomUUID()}`,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 100,
  });
  const out: KafkaMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        expect(partition).toBe(0);
        out.push(message);
        if (out.length === count) resolve();
      },
    });
  });
  await consumer.disconnect();
  return out;
}

beforeAll(async () => {
  await initChecksums();
  broker = await startKafkaBroker();
  kafka = new Kafka({ clientId: 'test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
});

afterAll(async () => {
  await broker?.stop();
});

describe('recordMessages', () => {
  it('sends a small record whole, with its commit LSN and checksum', () => {
    const payload = encodeRecord(tx('a', 0x10n));
    const [m, ...rest] = recordMessages('a', 0x10n, payload, 1000);
    expect(rest).toEqual([]);
    expect(m!.key).toBe('a');
    expect(new Uint8Array(m!.value)).toEqual(payload);
    expect(m!.headers).toEqual({
      [KAFKA_HEADER_COMMIT_LSN]: '0/10',
      [KAFKA_HEADER_XXH64]: xxh64Hex(payload),
    });
  });

  it('splits a large record into ordered chunks of at most the chunk size', () => {
    const payload = encodeRecord(tx('a', 0x20n, 'x'.repeat(2500)));
    const messages = recordMessages('a', 0x20n, payload, 1000);
    expect(messages.length).toBe(Math.ceil(payload.byteLength / 1000));
    messages.forEach((m, i) => {
      expect(m.value.byteLength).toBeLessThanOrEqual(1000);
      expect(m.headers[KAFKA_HEADER_CHUNK]).toBe(`${i + 1}/${messages.length}`);
      expect(m.headers[KAFKA_HEADER_COMMIT_LSN]).toBe('0/20');
      expect(m.headers[KAFKA_HEADER_XXH64]).toBe(xxh64Hex(payload));
    });
    expect(new Uint8Array(Buffer.concat(messages.map((m) => m.value)))).toEqual(payload);
  });

  it('reads chunk headers strictly', () => {
    expect(parseChunkHeader(undefined)).toBeUndefined();
    expect(parseChunkHeader('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['0/3', '4/3', '1/0', 'a/b', '1/2/3', ''])
      expect(() => parseChunkHeader(bad)).toThrow();
  });
});

describe('KafkaTransactionSink (librdkafka mock cluster)', () => {
  it('keeps the order of many concurrent writes, all on partition 0', async () => {
    const sink = new KafkaTransactionSink({
      brokers: broker.brokers,
      source: 'order',
      maxMessageBytes: 16 * 1024,
    });
    expect(await sink.durableLsn()).toBeUndefined();
    const lsns = Array.from({ length: 600 }, (_, i) => 0x1000n + BigInt(i) * 0x10n);
    await Promise.all(lsns.map((lsn) => sink.write(tx('order', lsn))));
    expect(await sink.durableLsn()).toBe(lsns.at(-1));
    await sink.close();

    const messages = await readAll('tidemark.order', lsns.length);
    expect(messages.map((m) => header(m, KAFKA_HEADER_COMMIT_LSN))).toEqual(lsns.map(formatLsn));
    for (const m of messages) {
      expect(m.key?.toString()).toBe('order');
      expect(xxh64Hex(m.value!)).toBe(header(m, KAFKA_HEADER_XXH64));
    }
    expect(decodeRecord(messages[7]!.value!)).toEqual(tx('order', lsns[7]!));
  });

  it('round-trips a record larger than a message as ordered chunks', async () => {
    const sink = new KafkaTransactionSink({
      brokers: broker.brokers,
      source: 'big',
      maxMessageBytes: 8 * 1024,
    });
    const big = tx('big', 0x2000n, 'é'.repeat(40_000)); // 80 KB of text
    const writes = [sink.write(tx('big', 0x1000n)), sink.write(big), sink.write(tx('big', 0x3000n))];
    await Promise.all(writes);
    await sink.close();

    const count = Math.ceil(encodeRecord(big).byteLength / (7 * 1024)) + 2;
    const messages = await readAll('tidemark.big', count);
    const chunks = messages.slice(1, -1);
    expect(chunks.length).toBeGreaterThan(9);
    chunks.forEach((m, i) => {
      expect(header(m, KAFKA_HEADER_CHUNK)).toBe(`${i + 1}/${chunks.length}`);
      expect(header(m, KAFKA_HEADER_COMMIT_LSN)).toBe('0/2000');
    });
    const payload = Buffer.concat(chunks.map((m) => m.value!));
    expect(xxh64Hex(payload)).toBe(header(chunks[0]!, KAFKA_HEADER_XXH64));
    expect(decodeRecord(payload)).toEqual(big);
    expect(header(messages[0]!, KAFKA_HEADER_CHUNK)).toBeUndefined();
    expect(header(messages.at(-1)!, KAFKA_HEADER_COMMIT_LSN)).toBe('0/3000');
  });

  it('durableLsn reads the last complete record from the topic, skipping an incomplete one', async () => {
    const writer = new KafkaTransactionSink({ brokers: broker.brokers, source: 'tail' });
    await writer.write(tx('tail', 0x100n));
    await writer.write(tx('tail', 0x200n));
    await writer.close();
    // the first two chunks of a record whose last chunk never made it
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic: 'tidemark.tail',
      acks: -1,
      messages: [1, 2].map((i) => ({
        partition: 0,
        value: Buffer.from([i]),
        headers: {
          [KAFKA_HEADER_COMMIT_LSN]: '0/300',
          [KAFKA_HEADER_XXH64]: '0'.repeat(16),
          [KAFKA_HEADER_CHUNK]: `${i}/3`,
        },
      })),
    });
    await producer.disconnect();

    const reader = new KafkaTransactionSink({ brokers: broker.brokers, source: 'tail' });
    expect(await reader.durableLsn()).toBe(0x200n);
    await reader.close();
  });

  it('rejects a write the broker does not acknowledge, and everything newer until the replay', async () => {
    const sink = new KafkaTransactionSink({
      brokers: broker.brokers,
      source: 'fail',
      kafka: { requestTimeout: 800, retry: { retries: 0 } },
      ackTimeoutMs: 800,
    });
    await sink.write(tx('fail', 0x100n));
    await broker.pause();
    let failed: Promise<unknown>[];
    try {
      failed = [sink.write(tx('fail', 0x200n)), sink.write(tx('fail', 0x300n))];
      await expect(failed[0]).rejects.toThrow(/did not acknowledge/);
      await expect(failed[1]).rejects.toThrow(/did not acknowledge/);
    } finally {
      broker.resume();
    }
    // a straggler newer than the failed writes must not overtake their replay
    await expect(sink.write(tx('fail', 0x400n))).rejects.toThrow(/replayed from 0\/200/);
    // the replay (from the slot's confirmed position) goes through
    await sink.write(tx('fail', 0x200n));
    await sink.write(tx('fail', 0x300n));
    await sink.write(tx('fail', 0x400n));
    expect(await sink.durableLsn()).toBe(0x400n);
    await sink.close();
    await expect(sink.write(tx('fail', 0x500n))).rejects.toThrow(/closed/);
  });
});
