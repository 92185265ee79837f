import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KafkaTransactionSink } from '@tidemark/capture';
import {
  decodeRecord,
  initChecksums,
  LocalObjectStore,
  type ObjectBody,
  type ObjectStore,
  type PutOptions,
  readSegment,
  type SnapshotManifest,
  segmentsPrefix,
  sha256Hex,
  snapshotManifestKey,
  TidemarkError,
  type TransactionRecord,
  verifyChain,
} from '@tidemark/shared';
import { type KafkaBroker, startKafkaBroker } from '@tidemark/testkit';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Journal } from './journal.js';
import { KafkaJournalConsumer, type KafkaJournalConsumerOptions } from './kafka-journal-consumer.js';
import { KAFKA_HEADER_COMMIT_LSN, KAFKA_HEADER_XXH64 } from './kafka-record-message.js';

const SNAPSHOT_LSN = 0x1000n;
const T0 = 1_764_000_000_000_000n;

function tx(source: string, lsn: bigint, text = `row ${lsn}`): TransactionRecord {
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

/** LSNs 0x2000, 0x2010, ... */
const lsnAt = (i: number) => 0x2000n + BigInt(i) * 0x10n;
/** every 25th record is a large one, sent in chunks */
const recordAt = (source: string, i: number) =>
  tx(source, lsnAt(i), i % 25 === 7 ? `big ${i} ${'x'.repeat(20_000)}` : undefined);

/**
 * The real local store, with segment uploads that can be held back or made to fail: fault
 * injection around a real store, not a mock.
 */
class FaultyStore implements ObjectStore {
  failSegments = false;
  segmentPuts = 0;
  private gate: { promise: Promise<void>; open: () => void } | undefined;
  constructor(private readonly inner: ObjectStore) {}
  get description() {
    return `faulty(${this.inner.description})`;
  }
  holdSegments(): void {
    let open!: () => void;
    const promise = new Promise<void>((r) => {
      open = r;
    });
    this.gate = { promise, open };
  }
  releaseSegments(): void {
    this.gate?.open();
    this.gate = undefined;
  }
  async put(key: string, body: ObjectBody, options?: PutOptions) {
    if (key.includes('/segments/')) {
      this.segmentPuts++;
      if (this.gate) await this.gate.promise;
      if (this.failSegments) {
        throw new TidemarkError('STORE_UNAVAILABLE', 'injected failure', { retriable: false });
      }
    }
    return this.inner.put(key, body, options);
  }
  get(key: string) {
    return this.inner.get(key);
  }
  getStream(key: string) {
    return this.inner.getStream(key);
  }
  head(key: string) {
    return this.inner.head(key);
  }
  list(prefix: string, options?: { startAfter?: string }) {
    return this.inner.list(prefix, options);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
}

let broker: KafkaBroker;
let kafka: Kafka;
let dir: string;
let store: FaultyStore;
/** each test has its own topics: a pattern subscription must not pick up another test's */
let prefix: string;
const manifestSha = new Map<string, string>();
const running: KafkaJournalConsumer[] = [];

async function addSource(source: string): Promise<void> {
  const manifest: SnapshotManifest = {
    formatVersion: 1,
    source,
    lsn: '0/1000',
    snapshotTime: String(T0),
    createdAt: new Date().toISOString(),
    serverVersion: 150000,
    tables: [],
  };
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  manifestSha.set(source, sha256Hex(bytes));
  await store.put(snapshotManifestKey(source, SNAPSHOT_LSN), bytes);
}

/** Everything archived for `source`, after checking the hash chain from the snapshot. */
async function archived(source: string): Promise<bigint[]> {
  const out: bigint[] = [];
  const links = [];
  for await (const o of store.list(segmentsPrefix(source))) {
    const seg = readSegment(await store.get(o.key), o.key);
    links.push({ key: o.key, header: seg.header, sha256: seg.sha256 });
    for (const r of seg.records) {
      const record = decodeRecord(r.payload);
      const i = Number((record.commitLsn - 0x2000n) / 0x10n);
      expect(record).toEqual(recordAt(source, i));
      out.push(record.commitLsn);
    }
  }
  expect(verifyChain({ sha256: manifestSha.get(source)!, lsn: SNAPSHOT_LSN }, links)).toEqual([]);
  return out;
}

async function produce(source: string, from: number, to: number): Promise<void> {
  const sink = new KafkaTransactionSink({
    brokers: broker.brokers,
    source,
    topicPrefix: prefix,
    maxMessageBytes: 8 * 1024,
  });
  const writes: Promise<void>[] = [];
  for (let i = from; i < to; i++) writes.push(sink.write(recordAt(source, i)));
  await Promise.all(writes);
  await sink.close();
}

function consumer(groupId: string, over: Partial<KafkaJournalConsumerOptions> = {}): KafkaJournalConsumer {
  const c = new KafkaJournalConsumer({
    brokers: broker.brokers,
    groupId,
    topicPrefix: prefix,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 500,
    retryDelayMs: { initial: 200, max: 1000 },
    makeJournal: async (source) => {
      const j = new Journal({ store, source, maxSegmentBytes: 64 * 1024, maxSegmentAgeMs: 50 });
      await j.open();
      return j;
    },
    ...over,
  });
  running.push(c);
  return c;
}

async function committed(groupId: string, source: string): Promise<bigint | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [topic] = await admin.fetchOffsets({ groupId, topics: [`${prefix}${source}`] });
    const offset = topic?.partitions.find((p) => p.partition === 0)?.offset;
    return offset === undefined || offset === '-1' ? undefined : BigInt(offset);
  } finally {
    await admin.disconnect();
  }
}

async function highWatermark(source: string): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(`${prefix}${source}`);
    return BigInt(offsets.find((o) => o.partition === 0)!.high);
  } finally {
    await admin.disconnect();
  }
}

async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  state?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${state ? `: ${state()}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sourceStatus = (c: KafkaJournalConsumer, source: string) =>
  c.status.sources.find((s) => s.source === source);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => lsnAt(from + i));

beforeAll(async () => {
  await initChecksums();
  broker = await startKafkaBroker();
  kafka = new Kafka({ clientId: 'test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
});

afterAll(async () => {
  await broker?.stop();
});

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-kafka-journal-'));
  prefix = `t${randomUUID().slice(0, 8)}.`;
  store = new FaultyStore(new LocalObjectStore(dir));
});

afterEach(async () => {
  store.releaseSegments();
  await Promise.all(running.splice(0).map((c) => c.stop()));
  await rm(dir, { recursive: true, force: true });
});

describe('KafkaJournalConsumer (librdkafka mock cluster, local store)', () => {
  it('archives every record once and in order, also when records are produced twice', async () => {
    const source = 'e2e';
    await addSource(source);
    await produce(source, 0, 60);
    await produce(source, 40, 100); // redelivery: capture replayed 40..59 after a restart
    const high = await highWatermark(source);
    const c = consumer(`g-${prefix}`);
    await c.start();
    await waitFor('the journal to catch up', () => sourceStatus(c, source)?.committedOffset === high);
    expect(await archived(source)).toEqual(range(0, 100));
    expect(sourceStatus(c, source)).toMatchObject({ lastArchivedLsn: lsnAt(99), lag: 0n, pendingRecords: 0 });
    expect(await committed(`g-${prefix}`, source)).toBe(high);
  });

  it('commits no offset beyond what is durable, and re-reads after a failed upload', async () => {
    const source = 'hold';
    await addSource(source);
    await produce(source, 0, 30);
    const high = await highWatermark(source);
    const groupId = `g-${prefix}`;
    store.holdSegments();
    const c = consumer(groupId);
    await c.start();
    // records are read and handed to the journal, but no segment is durable
    await waitFor(
      'records to reach the journal',
      () => store.segmentPuts > 0 && (sourceStatus(c, source)?.pendingRecords ?? 0) > 0,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(await committed(groupId, source)).toBeUndefined();
    expect(sourceStatus(c, source)?.committedOffset).toBeUndefined();

    // the held uploads fail: nothing is committed, the source is read again after a backoff
    store.failSegments = true;
    store.releaseSegments();
    await waitFor('the failure to be noticed', () => sourceStatus(c, source)?.lastError !== undefined);
    expect(sourceStatus(c, source)?.lastError).toMatch(/injected failure/);
    expect(await committed(groupId, source)).toBeUndefined();

    store.failSegments = false;
    await waitFor('the journal to catch up', () => sourceStatus(c, source)?.committedOffset === high);
    expect(sourceStatus(c, source)?.recovering).toBe(false);
    expect(await archived(source)).toEqual(range(0, 30));
    expect(await committed(groupId, source)).toBe(high);
  });

  it('resumes from the committed offset after a restart, without loss or duplicates', async () => {
    const source = 'restart';
    const groupId = `g-${prefix}`;
    await addSource(source);
    await produce(source, 0, 40);
    const first = consumer(groupId);
    await first.start();
    const mid = await highWatermark(source);
    await waitFor('the first half', () => sourceStatus(first, source)?.committedOffset === mid);
    await first.stop();
    expect(await committed(groupId, source)).toBe(mid);

    await produce(source, 40, 80);
    const high = await highWatermark(source);
    const seen: bigint[] = [];
    class SeeingJournal extends Journal {
      override write(t: TransactionRecord) {
        seen.push(t.commitLsn);
        return super.write(t);
      }
    }
    const second = consumer(groupId, {
      makeJournal: async (s) => {
        const j = new SeeingJournal({ store, source: s, maxSegmentBytes: 64 * 1024, maxSegmentAgeMs: 50 });
        await j.open();
        return j;
      },
    });
    await second.start();
    await waitFor('the second half', () => sourceStatus(second, source)?.committedOffset === high);
    // it resumed where the first one committed: nothing of the first half was read again
    expect([...seen].sort((a, b) => (a < b ? -1 : 1))[0]).toBe(lsnAt(40));
    expect(await archived(source)).toEqual(range(0, 80));
  });

  it('stops on a record whose checksum does not match, and archives nothing of it', async () => {
    const source = 'corrupt';
    const groupId = `g-${prefix}`;
    await addSource(source);
    await produce(source, 0, 5);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const sink = new KafkaTransactionSink({ brokers: broker.brokers, source, topicPrefix: prefix });
    await sink.write(recordAt(source, 5)); // the record itself is fine ...
    await sink.close();
    await producer.send({
      topic: `${prefix}${source}`,
      acks: -1,
      messages: [
        {
          partition: 0,
          value: Buffer.from('not what the checksum says'),
          headers: { [KAFKA_HEADER_COMMIT_LSN]: '0/2060', [KAFKA_HEADER_XXH64]: '0123456789abcdef' },
        },
      ],
    });
    await producer.disconnect();
    await produce(source, 7, 9);
    const fatal: TidemarkError[] = [];
    const c = consumer(groupId, { onFatal: (e) => fatal.push(e) });
    await c.start();
    await waitFor('the consumer to stop', () => fatal.length > 0 && !c.status.running);
    expect(fatal[0]?.code).toBe('RECORD_CORRUPT');
    expect(fatal[0]?.message).toMatch(/@6 .*damaged on the way and is not archived/);
    expect(c.status.fatalError).toMatch(/checksum|xxh64/);
    await c.stop();
    expect(await archived(source)).toEqual(range(0, 6));
    expect(await committed(groupId, source)).toBe(6n); // up to, not past, the bad message
  });

  it('spreads sources over the members of a group, handing one over when a member joins', async () => {
    const sources = ['split-a', 'split-b'];
    const groupId = `g-${prefix}`;
    for (const s of sources) {
      await addSource(s);
      await produce(s, 0, 20);
    }
    const caughtUp = async (members: KafkaJournalConsumer[]) => {
      const highs = await Promise.all(sources.map(highWatermark));
      return sources.every((s, i) => members.some((m) => sourceStatus(m, s)?.committedOffset === highs[i]));
    };
    const first = consumer(groupId, { sources });
    await first.start();
    await waitFor('the first member to archive both sources', () => caughtUp([first]));

    // records keep coming while the group rebalances: the first member has writes in flight
    const producing = (async () => {
      for (let k = 20; k < 50; k += 3) {
        await Promise.all(sources.map((s) => produce(s, k, Math.min(k + 3, 50))));
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    const second = consumer(groupId, { sources });
    await second.start();
    const owned = (m: KafkaJournalConsumer) => m.status.sources.map((s) => s.source);
    await waitFor(
      'a source to move to the new member',
      () => owned(first).length === 1 && owned(second).length === 1,
      20_000,
      () =>
        JSON.stringify({ first: first.status, second: second.status }, (_k, v) =>
          typeof v === 'bigint' ? String(v) : v,
        ),
    );
    expect(new Set([...owned(first), ...owned(second)])).toEqual(new Set(sources));
    expect(first.status.rebalances).toBeGreaterThan(0);
    await producing;
    await waitFor('both members to archive their source', () => caughtUp([first, second]));
    expect(owned(first)).toHaveLength(1);
    expect(owned(second)).toHaveLength(1);
    for (const s of sources) expect(await archived(s)).toEqual(range(0, 50));
  });
});
