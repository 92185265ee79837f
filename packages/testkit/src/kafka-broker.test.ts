import { connect } from 'node:net';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KafkaBroker, startKafkaBroker } from './kafka-broker.js';

function isListening(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = connect({ host: host!, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('startKafkaBroker (librdkafka mock cluster via kcat)', () => {
  let broker: KafkaBroker;

  beforeAll(async () => {
    broker = await startKafkaBroker();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('round-trips messages through a consumer group', async () => {
    expect(broker.brokers).toHaveLength(1);
    expect(broker.brokers[0]).toMatch(/^127\.0\.0\.1:\d+$/);
    const kafka = new Kafka({ clientId: 'testkit', brokers: broker.brokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const sent = Array.from({ length: 20 }, (_, i) => `m${i}`);
    await producer.send({
      topic: 'roundtrip',
      acks: -1,
      messages: sent.map((value) => ({ partition: 0, value, headers: { h: value } })),
    });
    const consumer = kafka.consumer({ groupId: 'g', sessionTimeout: 6000, heartbeatInterval: 500 });
    await consumer.connect();
    await consumer.subscribe({ topics: ['roundtrip'], fromBeginning: true });
    const got: string[] = [];
    const all = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          got.push(`${message.value?.toString()}:${message.headers?.h?.toString()}`);
          if (got.length === sent.length) resolve();
        },
      });
    });
    await all;
    expect(got).toEqual(sent.map((v) => `${v}:${v}`));
    await consumer.disconnect();
    await producer.disconnect();
  });

  it('stops answering while paused and serves again after resume', async () => {
    const kafka = new Kafka({
      clientId: 'testkit',
      brokers: broker.brokers,
      logLevel: logLevel.NOTHING,
      requestTimeout: 1_000,
      retry: { retries: 0 },
    });
    const admin = kafka.admin();
    await admin.connect();
    await broker.pause();
    try {
      const started = Date.now();
      await expect(admin.fetchTopicOffsets('roundtrip')).rejects.toThrow();
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      broker.resume();
    }
    const offsets = await admin.fetchTopicOffsets('roundtrip');
    expect(offsets.find((o) => o.partition === 0)?.high).toBe('20');
    await admin.disconnect();
  });

  it('stop() takes the broker down', async () => {
    const other = await startKafkaBroker();
    const address = other.brokers[0]!;
    expect(await isListening(address)).toBe(true);
    await other.stop();
    expect(await isListening(address)).toBe(false);
    await other.stop(); // idempotent
  });
});
