import {
  encodeRecord,
  formatLsn,
  initChecksums,
  kafkaLogCreator,
  type Lsn,
  TidemarkError,
  type TransactionRecord,
  type TransactionSink,
} from '@tidemark/shared';
import {
  type Admin,
  Kafka,
  type KafkaConfig,
  logLevel,
  type Message,
  Partitioners,
  type Producer,
} from 'kafkajs';
import { type CaptureLogger, silentLogger } from './capture-logger.js';
import { type OutgoingMessage, recordMessages } from './kafka-message-format.js';
import { readLastRecordLsn } from './kafka-tail-reader.js';

export interface KafkaTransactionSinkOptions {
  readonly brokers: readonly string[];
  /** the source name: the topic is `${topicPrefix}${source}` */
  readonly source: string;
  /** default `tidemark.` */
  readonly topicPrefix?: string;
  /** default `tidemark-capture-${source}` */
  readonly clientId?: string;
  /**
   * Upper bound of one produce request's record batch, and so of one message (default 900 KiB,
   * under Kafka's default `message.max.bytes` of 1 MiB, which limits a whole record batch).
   * Larger records are split into chunks of this size.
   */
  readonly maxMessageBytes?: number;
  /**
   * kafkajs' idempotent producer (default false). Correctness never depends on it: delivery is
   * at-least-once and the journal drops redelivered records by commit LSN. Librdkafka's mock
   * cluster does not support it.
   */
  readonly idempotent?: boolean;
  /**
   * Create the topic with one partition on first use (default true). Brokers that refuse
   * (librdkafka's mock cluster does not implement CreateTopics) fall back to auto-creation on
   * the first produce; only partition 0 is ever used, so extra partitions are harmless.
   */
  readonly createTopic?: boolean;
  /** how long the broker may wait for all in-sync replicas to acknowledge (default 30 s) */
  readonly ackTimeoutMs?: number;
  /** extra kafkajs client settings: ssl, sasl, connection and request timeouts, retry */
  readonly kafka?: Omit<KafkaConfig, 'brokers' | 'clientId' | 'logCreator' | 'logLevel'>;
  readonly logger?: CaptureLogger;
}

const DEFAULT_MAX_MESSAGE_BYTES = 900 * 1024;
/** kept free in each message for the key, headers and record framing */
const FRAMING_RESERVE_BYTES = 1024;

interface PendingWrite {
  readonly commitLsn: Lsn;
  readonly messages: OutgoingMessage[];
  /** messages already handed to a produce request */
  next: number;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * The TransactionSink of the distributed topology: publishes each transaction to the source's
 * Kafka topic and resolves `write` once the broker acknowledged it with acks=all.
 *
 * Order: writes queue up in call order and go out in produce requests that are strictly
 * sequential (one in flight at a time), each holding as many queued messages as fit in
 * `maxMessageBytes` - a write that arrives while a request is in flight rides in the next one,
 * so throughput does not serialise on the acknowledgement latency per transaction. A record
 * larger than that is split into chunks (see kafka-message-format.ts).
 *
 * Failure: if a request fails, its writes and every write queued behind it are rejected (the
 * capture then restarts from the slot). Until a write at or before the first rejected commit
 * LSN arrives - the replay - later writes are rejected too, so nothing newer can reach the
 * topic ahead of the replayed records (the journal would take it and then drop the replayed
 * ones as duplicates, leaving a hole). Kafka may hold a failed request's messages anyway, and
 * retries may duplicate: the journal drops records whose commit LSN it already has.
 */
export class KafkaTransactionSink implements TransactionSink {
  readonly topic: string;
  private readonly kafka: Kafka;
  private readonly logger: CaptureLogger;
  private readonly maxMessageBytes: number;
  private readonly queue: PendingWrite[] = [];
  private connection: Promise<{ producer: Producer; admin: Admin }> | undefined;
  private sending = false;
  private idle: Promise<void> = Promise.resolve();
  private markIdle: (() => void) | undefined;
  /** set after a failed request: the commit LSN a replay has to start at or before */
  private replayFrom: Lsn | undefined;
  /** newest commit LSN this process saw acknowledged */
  private ackedLsn: Lsn | undefined;
  private closed = false;

  constructor(private readonly opts: KafkaTransactionSinkOptions) {
    this.topic = `${opts.topicPrefix ?? 'tidemark.'}${opts.source}`;
    this.logger = opts.logger ?? silentLogger;
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!Number.isInteger(this.maxMessageBytes) || this.maxMessageBytes < 2 * FRAMING_RESERVE_BYTES) {
      throw new TidemarkError(
        'CONFIG_INVALID',
        `maxMessageBytes must be an integer of at least ${2 * FRAMING_RESERVE_BYTES}, got ${this.maxMessageBytes}`,
      );
    }
    this.kafka = new Kafka({
      ...opts.kafka,
      brokers: [...opts.brokers],
      clientId: opts.clientId ?? `tidemark-capture-${opts.source}`,
      logLevel: logLevel.INFO,
      logCreator: kafkaLogCreator(this.logger),
    });
  }

  /** Connects (and creates the topic) ahead of the first write; optional. */
  async connect(): Promise<void> {
    await this.connected();
  }

  write(tx: TransactionRecord): Promise<void> {
    if (this.closed) return Promise.reject(new TidemarkError('INTERNAL', 'the Kafka sink is closed'));
    if (tx.source !== this.opts.source) {
      return Promise.reject(
        new TidemarkError(
          'BAD_REQUEST',
          `Kafka sink of "${this.opts.source}" got a transaction of "${tx.source}"`,
        ),
      );
    }
    if (this.replayFrom !== undefined) {
      if (tx.commitLsn > this.replayFrom) {
        return Promise.reject(
          new TidemarkError(
            'REPLICATION_FAILED',
            `an earlier Kafka write failed: transactions must be replayed from ${formatLsn(this.replayFrom)} or before, got ${formatLsn(tx.commitLsn)}`,
          ),
        );
      }
      this.replayFrom = undefined;
    }
    let messages: OutgoingMessage[];
    try {
      messages = recordMessages(
        this.opts.source,
        tx.commitLsn,
        encodeRecord(tx),
        this.maxMessageBytes - FRAMING_RESERVE_BYTES,
        tx.endLsn,
      );
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ commitLsn: tx.commitLsn, messages, next: 0, resolve, reject });
      this.pump();
    });
  }

  /**
   * The commit LSN of the newest record acknowledged by this process, or else of the last
   * complete record in the topic. After a failed request Kafka may end with an older
   * duplicate, so the value can understate what is durable; it never overstates it.
   */
  async durableLsn(): Promise<Lsn | undefined> {
    if (this.ackedLsn !== undefined) return this.ackedLsn;
    const { admin } = await this.connected();
    return readLastRecordLsn(this.kafka, admin, this.topic, this.logger);
  }

  /** Waits until every write so far is acknowledged (or failed), then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.idle;
    const connection = this.connection;
    this.connection = undefined;
    if (connection) {
      const { producer, admin } = await connection.catch(() => ({ producer: undefined, admin: undefined }));
      await Promise.allSettled([producer?.disconnect(), admin?.disconnect()]);
    }
  }

  private connected(): Promise<{ producer: Producer; admin: Admin }> {
    this.connection ??= this.open().catch((err: unknown) => {
      this.connection = undefined;
      throw err;
    });
    return this.connection;
  }

  private async open(): Promise<{ producer: Producer; admin: Admin }> {
    await initChecksums();
    const producer = this.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: this.opts.idempotent ?? false,
      // belt and braces: we never have more than one request in flight anyway
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
    });
    const admin = this.kafka.admin({ retry: { retries: 2 } });
    try {
      await producer.connect();
      await admin.connect();
      if (this.opts.createTopic ?? true) await this.createTopic(admin);
    } catch (err) {
      await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
      throw new TidemarkError(
        'REPLICATION_FAILED',
        `cannot connect to Kafka (${this.opts.brokers.join(',')})`,
        {
          cause: err,
        },
      );
    }
    this.logger.info({ topic: this.topic, brokers: this.opts.brokers }, 'Kafka sink connected');
    return { producer, admin };
  }

  private async createTopic(admin: Admin): Promise<void> {
    try {
      const created = await admin.createTopics({ topics: [{ topic: this.topic, numPartitions: 1 }] });
      if (created) this.logger.info({ topic: this.topic }, 'Kafka topic created with one partition');
    } catch (err) {
      this.logger.warn(
        { err, topic: this.topic },
        'could not create the Kafka topic; relying on the broker to create it on first produce',
      );
    }
  }

  private pump(): void {
    if (this.sending || this.queue.length === 0) return;
    this.sending = true;
    this.idle = new Promise<void>((resolve) => {
      this.markIdle = resolve;
    });
    // one macrotask of linger: writes made in the same burst go out in the same request
    setImmediate(() => void this.sendAll());
  }

  private async sendAll(): Promise<void> {
    let inFlight: PendingWrite[] = [];
    try {
      const { producer } = await this.connected();
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        inFlight = batch.writes;
        await producer.send({
          topic: this.topic,
          acks: -1,
          timeout: this.opts.ackTimeoutMs ?? 30_000,
          messages: batch.messages,
        });
        inFlight = [];
        for (const w of batch.completed) {
          if (this.ackedLsn === undefined || w.commitLsn > this.ackedLsn) this.ackedLsn = w.commitLsn;
          w.resolve();
        }
      }
    } catch (err) {
      this.fail(inFlight, err);
    } finally {
      this.sending = false;
      this.markIdle?.();
      this.markIdle = undefined;
      this.pump();
    }
  }

  /** The next produce request: whole messages from the head of the queue, within the size bound. */
  private takeBatch(): { messages: Message[]; writes: PendingWrite[]; completed: PendingWrite[] } {
    const messages: Message[] = [];
    const writes: PendingWrite[] = [];
    const completed: PendingWrite[] = [];
    let bytes = 0;
    while (this.queue.length > 0) {
      const w = this.queue[0]!;
      while (w.next < w.messages.length) {
        const m = w.messages[w.next]!;
        if (messages.length > 0 && bytes + m.bytes > this.maxMessageBytes) break;
        messages.push({ partition: 0, key: m.key, value: m.value, headers: m.headers });
        bytes += m.bytes;
        w.next++;
      }
      if (writes.at(-1) !== w) writes.push(w);
      if (w.next < w.messages.length) break; // the rest of this record goes in the next request
      completed.push(w);
      this.queue.shift();
    }
    return { messages, writes, completed };
  }

  private fail(inFlight: PendingWrite[], err: unknown): void {
    const failed = [...inFlight, ...this.queue.filter((w) => !inFlight.includes(w))];
    this.queue.length = 0;
    const error =
      err instanceof TidemarkError
        ? err
        : new TidemarkError('REPLICATION_FAILED', `Kafka did not acknowledge the write to ${this.topic}`, {
            cause: err,
          });
    let lowest: Lsn | undefined;
    for (const w of failed) if (lowest === undefined || w.commitLsn < lowest) lowest = w.commitLsn;
    if (lowest !== undefined) {
      this.replayFrom = this.replayFrom === undefined || lowest < this.replayFrom ? lowest : this.replayFrom;
      this.logger.error(
        { err, topic: this.topic, writes: failed.length, replayFrom: formatLsn(lowest) },
        'Kafka write failed; rejecting it and every write queued behind it',
      );
    }
    for (const w of failed) w.reject(error);
  }
}
