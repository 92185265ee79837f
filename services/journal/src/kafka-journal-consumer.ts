import {
  decodeRecord,
  formatLsn,
  initChecksums,
  kafkaLogCreator,
  type Lsn,
  TidemarkError,
  type TransactionRecord,
  toTidemarkError,
} from '@tidemark/shared';
import { type Batch, type Consumer, Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import { type AssembledRecord, ChunkReassembler } from './chunk-reassembler.js';
import type { Journal } from './journal.js';
import { type JournalLogger, silentLogger } from './journal-logger.js';
import { type MessagePlace, parseIncomingMessage, verifyRecordPayload } from './kafka-record-message.js';
import { PartitionProgress, type ProgressEntry } from './partition-progress.js';
import { SourcePartitionAssigner } from './source-partition-assigner.js';

const SOURCE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export interface KafkaJournalConsumerOptions {
  readonly brokers: readonly string[];
  /** default `tidemark.`: the topic of source `s` is `${topicPrefix}s` */
  readonly topicPrefix?: string;
  /** default `tidemark-journal` */
  readonly groupId?: string;
  /** default `tidemark-journal` */
  readonly clientId?: string;
  /**
   * The sources to archive. Default: every topic named `${topicPrefix}<source name>` that
   * exists when the consumer starts (kafkajs resolves a pattern subscription once, at start:
   * a source added later is picked up by the next restart).
   */
  readonly sources?: readonly string[];
  /**
   * A new, opened Journal for `source`, called when the source is assigned to this process
   * (again after every rebalance: the source may have been archived elsewhere meanwhile, so the
   * journal must start from the store's tip). The consumer closes it when it lets go.
   */
  readonly makeJournal: (source: string) => Promise<Journal>;
  readonly logger?: JournalLogger;
  /** consumer group session timeout (default 30 s) */
  readonly sessionTimeoutMs?: number;
  /** consumer group heartbeat interval (default 3 s) */
  readonly heartbeatIntervalMs?: number;
  /** how long the group waits for members to rejoin in a rebalance (default 60 s) */
  readonly rebalanceTimeoutMs?: number;
  /** how long a fetch waits for new messages (default 500 ms, Kafka's fetch.max.wait.ms); bounds how long stop() waits */
  readonly maxWaitTimeMs?: number;
  /** bytes of records handed to journals and not durable yet, per source, before reading pauses (default 256 MiB) */
  readonly maxPendingBytes?: number;
  /** backoff before re-reading a source after a failed write (default 500 ms, doubling up to 30 s) */
  readonly retryDelayMs?: { readonly initial: number; readonly max: number };
  /** extra kafkajs client settings: ssl, sasl, connection and request timeouts */
  readonly kafka?: Omit<KafkaConfig, 'brokers' | 'clientId' | 'logCreator' | 'logLevel'>;
  /** called once if the consumer stops because of data it must not archive */
  readonly onFatal?: (err: TidemarkError) => void;
}

export interface KafkaJournalSourceStatus {
  readonly source: string;
  readonly topic: string;
  /** the offset this process last committed for partition 0 (the next to read) */
  readonly committedOffset: bigint | undefined;
  /** partition 0's high watermark as of the last fetch */
  readonly highWatermark: bigint | undefined;
  /** high watermark minus the committed offset (or where reading resumed): messages not yet durable in the store */
  readonly lag: bigint | undefined;
  readonly lastArchivedLsn: Lsn | undefined;
  /** records handed to the journal and not yet durable */
  readonly pendingRecords: number;
  /** a write failed; the source is re-read from its last durable offset after a backoff */
  readonly recovering: boolean;
  readonly lastError: string | undefined;
}

export interface KafkaJournalConsumerStatus {
  readonly running: boolean;
  readonly rebalances: number;
  readonly fatalError: string | undefined;
  readonly sources: KafkaJournalSourceStatus[];
}

interface SourceState {
  readonly source: string;
  readonly topic: string;
  journal: Journal | undefined;
  opening: Promise<Journal> | undefined;
  /** bumped whenever the partition is read again from the committed offset: older writes' outcomes are ignored */
  epoch: number;
  progress: PartitionProgress;
  reassembler: ChunkReassembler;
  /** writes of the current epoch still pending */
  readonly inflight: Set<Promise<void>>;
  pendingBytes: number;
  recovering: boolean;
  committed: bigint | undefined;
  /** offset of the first message read in this epoch: where Kafka resumed; committing it is no progress */
  epochStart: bigint | undefined;
  highWatermark: bigint | undefined;
  retryDelayMs: number;
  lastError: string | undefined;
}

/**
 * The journal side of the distributed topology: reads each source's Kafka topic (partition 0)
 * in a consumer group and archives the records through that source's Journal.
 *
 * No loss: offsets are committed by hand (autoCommit off), and only up to the first message
 * whose record is not yet durable in the object store (PartitionProgress), so a restarted or
 * newly assigned consumer resumes at a point from which everything not yet archived is read
 * again. Writes are not awaited one by one: the journal resolves them when their segment is
 * durable, and the commit follows.
 *
 * No duplicates, no reordering: records are handed to the journal in partition order; the
 * journal drops any whose commit LSN it already has. A failed write (the journal then fails
 * every later write it had accepted and forgets them) stops the source at once - nothing more
 * is written to that journal - and after a backoff the partition is read again from the first
 * record not durable, so the journal sees the records again in order and leaves no hole.
 *
 * Integrity: each record's xxh64 (header) is checked against its bytes after reassembly; a
 * mismatch, a malformed message or a message on another partition than 0 stops the consumer
 * with a RECORD_CORRUPT error and archives nothing of it.
 *
 * Rebalances: when the group starts rebalancing, no more records are written, every journal
 * is flushed and what became durable committed; journals of sources this process loses are
 * closed, and a source it gets (back) is opened afresh from the store's tip.
 */
export class KafkaJournalConsumer {
  private readonly kafka: Kafka;
  private readonly logger: JournalLogger;
  private readonly prefix: string;
  private readonly states = new Map<string, SourceState>();
  private consumer: Consumer | undefined;
  /** no records may be written: a rebalance or crash is under way, or we are stopping */
  private fenced = false;
  private running = false;
  private stopping: Promise<void> | undefined;
  private fatalError: TidemarkError | undefined;
  private rebalances = 0;
  private committing: Promise<void> | undefined;
  private commitAgain = false;
  private commitTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** per topic: the close of a retired journal instance, which the next instance waits for */
  private readonly closing = new Map<string, Promise<void>>();

  constructor(private readonly opts: KafkaJournalConsumerOptions) {
    this.logger = opts.logger ?? silentLogger;
    this.prefix = opts.topicPrefix ?? 'tidemark.';
    for (const s of opts.sources ?? []) {
      if (!SOURCE_NAME.test(s))
        throw new TidemarkError('CONFIG_INVALID', `not a valid source name: ${JSON.stringify(s)}`);
    }
    this.kafka = new Kafka({
      ...opts.kafka,
      brokers: [...opts.brokers],
      clientId: opts.clientId ?? 'tidemark-journal',
      logLevel: logLevel.INFO,
      logCreator: kafkaLogCreator(this.logger),
    });
  }

  /** Joins the group and starts archiving; resolves once the consumer runs (assignment follows). */
  async start(): Promise<void> {
    if (this.consumer) throw new TidemarkError('INTERNAL', 'the Kafka journal consumer was started already');
    await initChecksums();
    const consumer = this.kafka.consumer({
      groupId: this.opts.groupId ?? 'tidemark-journal',
      sessionTimeout: this.opts.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: this.opts.heartbeatIntervalMs ?? 3_000,
      rebalanceTimeout: this.opts.rebalanceTimeoutMs ?? 60_000,
      maxWaitTimeInMs: this.opts.maxWaitTimeMs ?? 500,
      partitionAssigners: [SourcePartitionAssigner],
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.REBALANCING, () => this.onRebalancing('rebalance'));
    consumer.on(consumer.events.CRASH, (e) => {
      this.logger.error({ err: e.payload.error, restart: e.payload.restart }, 'Kafka consumer crashed');
      if (e.payload.restart) this.onRebalancing('consumer crash');
      else {
        this.fatal(
          new TidemarkError('INTERNAL', `the Kafka consumer stopped for good: ${e.payload.error.message}`, {
            cause: e.payload.error,
          }),
        );
      }
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => this.onGroupJoin(e.payload.memberAssignment));
    const topics = this.opts.sources
      ? this.opts.sources.map((s) => `${this.prefix}${s}`)
      : [new RegExp(`^${escapeRegExp(this.prefix)}[a-z0-9][a-z0-9_-]{0,62}$`)];
    if (this.opts.sources) await this.createTopics(this.opts.sources.map((s) => `${this.prefix}${s}`));
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    this.running = true;
    try {
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.eachBatch(payload),
      });
    } catch (err) {
      this.running = false;
      throw err;
    }
    this.logger.info(
      { groupId: this.opts.groupId ?? 'tidemark-journal', topics: topics.map(String) },
      'Kafka journal consumer started',
    );
  }

  /**
   * Creates listed sources' topics that do not exist yet (one partition, as capture does), so
   * the journal may start before capture has published. Brokers that refuse (librdkafka's mock
   * cluster has no CreateTopics; a cluster may lack the ACL) are only warned about: subscribing
   * then needs the topic to exist or to be auto-created.
   */
  private async createTopics(topics: string[]): Promise<void> {
    const admin = this.kafka.admin({ retry: { retries: 2 } });
    try {
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t));
      if (missing.length === 0) return;
      await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 1 })) });
      this.logger.info({ topics: missing }, 'Kafka topics created with one partition');
    } catch (err) {
      this.logger.warn({ err, topics }, 'could not create missing Kafka topics');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /**
   * Stops reading, makes everything handed to the journals durable, commits it, leaves the
   * group and closes the journals. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  get status(): KafkaJournalConsumerStatus {
    return {
      running: this.running && this.stopping === undefined,
      rebalances: this.rebalances,
      fatalError: this.fatalError?.message,
      sources: [...this.states.values()].map((s) => {
        const js = s.journal?.status;
        const base = s.committed ?? s.epochStart;
        return {
          source: s.source,
          topic: s.topic,
          committedOffset: s.committed,
          highWatermark: s.highWatermark,
          lag: s.highWatermark !== undefined && base !== undefined ? s.highWatermark - base : undefined,
          lastArchivedLsn: js?.lastArchivedLsn,
          pendingRecords: s.progress.pending,
          recovering: s.recovering,
          lastError: s.lastError,
        };
      }),
    };
  }

  // ---- reading ----------------------------------------------------------------------------

  private async eachBatch(payload: {
    batch: Batch;
    resolveOffset: (offset: string) => void;
    heartbeat: () => Promise<void>;
    isRunning: () => boolean;
    isStale: () => boolean;
  }): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    if (this.blocked()) return;
    if (batch.partition !== 0) {
      const first = batch.messages[0];
      if (first) {
        this.fatal(
          new TidemarkError(
            'RECORD_CORRUPT',
            `Kafka message ${batch.topic}[${batch.partition}]@${first.offset} is on a partition other than 0: Tidemark publishes each source to partition 0 only, so its order cannot be trusted; find the producer that wrote it`,
          ),
        );
      }
      return;
    }
    // Only sources of the current assignment have a state (made on GROUP_JOIN). A batch fetched
    // before a rebalance can arrive after it: creating a state for its topic here would make this
    // process claim (and write) a source that now belongs to another member.
    if (isStale()) return;
    const state = this.states.get(batch.topic);
    if (!state || state.recovering) return;
    state.highWatermark = BigInt(batch.highWatermark);
    if (batch.messages.length === 0) return;
    const epoch = state.epoch;
    let journal: Journal;
    try {
      journal = await this.withHeartbeat(this.journalFor(state), heartbeat);
    } catch (err) {
      if (isRebalancing(err)) throw err;
      this.recover(state, err, 'cannot open the journal');
      return;
    }
    let sinceHeartbeat = 0;
    for (const message of batch.messages) {
      if (!isRunning() || isStale() || this.blocked() || state.recovering || state.epoch !== epoch) break;
      const place: MessagePlace = { topic: batch.topic, partition: 0, offset: message.offset };
      const offset = BigInt(message.offset);
      state.epochStart ??= offset;
      try {
        const assembled = state.reassembler.push(parseIncomingMessage(place, message));
        if (assembled) this.write(state, journal, this.decode(state, place, assembled), assembled);
        else state.progress.delivered(offset);
      } catch (err) {
        this.fatal(err);
        return;
      }
      resolveOffset(message.offset);
      if (state.pendingBytes > (this.opts.maxPendingBytes ?? 256 * 1024 * 1024)) {
        await this.backpressure(state, epoch, heartbeat);
      } else if (++sinceHeartbeat >= 500) {
        sinceHeartbeat = 0;
        await this.heartbeat(heartbeat);
      }
    }
    this.scheduleCommit();
    await this.heartbeat(heartbeat);
  }

  private decode(state: SourceState, place: MessagePlace, assembled: AssembledRecord): TransactionRecord {
    const recordPlace = { ...place, offset: assembled.lastOffset.toString() };
    verifyRecordPayload(recordPlace, assembled.commitLsn, assembled.xxh64, assembled.payload);
    const tx = decodeRecord(assembled.payload);
    if (tx.source !== state.source || tx.commitLsn !== assembled.commitLsn) {
      throw new TidemarkError(
        'RECORD_CORRUPT',
        `Kafka message ${place.topic}[0]@${assembled.lastOffset} holds a record of source "${tx.source}" at ${formatLsn(tx.commitLsn)}, but its topic and header say "${state.source}" at ${formatLsn(assembled.commitLsn)}`,
        { details: { ...recordPlace } },
      );
    }
    return tx;
  }

  private write(
    state: SourceState,
    journal: Journal,
    tx: TransactionRecord,
    assembled: AssembledRecord,
  ): void {
    const entry: ProgressEntry = state.progress.add(assembled.firstOffset, assembled.lastOffset);
    const epoch = state.epoch;
    const bytes = assembled.payload.byteLength;
    state.pendingBytes += bytes;
    let written: Promise<void>;
    try {
      written = journal.write(tx);
    } catch (err) {
      written = Promise.reject(err);
    }
    // The failure handler is attached to the journal's own promise right away, so it runs
    // before any other code can write to this journal after the journal reset itself.
    const tracked = written.then(
      () => {
        if (state.epoch !== epoch) return;
        entry.state = 'durable';
        state.pendingBytes -= bytes;
        state.retryDelayMs = this.retryDelay.initial;
        this.scheduleCommit();
      },
      (err: unknown) => {
        if (state.epoch !== epoch) return;
        entry.state = 'failed';
        state.pendingBytes -= bytes;
        this.recover(state, err, `journal write of ${formatLsn(tx.commitLsn)} failed`);
      },
    );
    state.inflight.add(tracked);
    void tracked.finally(() => state.inflight.delete(tracked));
  }

  private async backpressure(
    state: SourceState,
    epoch: number,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    const limit = this.opts.maxPendingBytes ?? 256 * 1024 * 1024;
    const interval = this.opts.heartbeatIntervalMs ?? 3_000;
    while (state.pendingBytes > limit && state.epoch === epoch && !state.recovering && !this.blocked()) {
      await Promise.race([sleep(interval), ...state.inflight]);
      await this.heartbeat(heartbeat);
    }
  }

  /**
   * Heartbeats (kafkajs only does when the runner gets control back). When the group is
   * rebalancing, stops writing, flushes and commits before rethrowing: kafkajs rejoins only
   * after that, so the partitions this process may lose are durable before anyone else reads
   * them.
   */
  private async heartbeat(heartbeat: () => Promise<void>): Promise<void> {
    try {
      await heartbeat();
    } catch (err) {
      if (isRebalancing(err)) {
        this.fenced = true;
        await this.flushAll();
        await Promise.race([this.commitNow(), sleep(2_000)]);
      }
      throw err;
    }
  }

  /** Awaits `promise`, heartbeating meanwhile so the group does not drop this member. */
  private async withHeartbeat<T>(promise: Promise<T>, heartbeat: () => Promise<void>): Promise<T> {
    const interval = this.opts.heartbeatIntervalMs ?? 3_000;
    const settled = promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    for (;;) {
      const r = await Promise.race([settled, sleep(interval).then(() => undefined)]);
      if (r && 'error' in r) throw r.error;
      if (r) return r.value;
      await this.heartbeat(heartbeat);
    }
  }

  private blocked(): boolean {
    return this.fenced || this.fatalError !== undefined || this.stopping !== undefined;
  }

  // ---- failures ---------------------------------------------------------------------------

  /**
   * A write of `state` failed (or its journal could not be opened): write nothing more to it,
   * let the writes in flight settle, commit what is durable, then after a backoff read the
   * partition again from the first offset not durable.
   */
  private recover(state: SourceState, err: unknown, reason: string): void {
    if (state.recovering || this.stopping) return;
    state.recovering = true;
    state.lastError = `${reason}: ${err instanceof Error ? err.message : String(err)}`;
    const epoch = state.epoch;
    const delay = state.retryDelayMs;
    state.retryDelayMs = Math.min(delay * 2, this.retryDelay.max);
    this.logger.error(
      { err, source: state.source, retryInMs: delay },
      `${reason}; re-reading the source from its last durable offset`,
    );
    const partitions = [{ topic: state.topic, partitions: [0] }];
    try {
      this.consumer?.pause(partitions);
    } catch {
      // not running (any more): nothing to pause
    }
    void (async () => {
      await Promise.allSettled([...state.inflight]);
      await this.commitNow();
      await sleep(delay);
      if (state.epoch !== epoch || this.stopping || this.states.get(state.topic) !== state) return;
      const from = state.progress.committable(state.reassembler.oldestOpenOffset);
      this.newEpoch(state);
      try {
        if (from !== undefined)
          this.consumer?.seek({ topic: state.topic, partition: 0, offset: from.toString() });
        this.consumer?.resume(partitions);
        this.logger.info(
          { source: state.source, from: from?.toString() ?? 'last position' },
          're-reading the source after a failed write',
        );
      } catch (e) {
        this.logger.warn(
          { err: e, source: state.source },
          'could not seek; the next rebalance or restart resumes from the committed offset',
        );
      }
    })();
  }

  private fatal(err: unknown): void {
    if (this.fatalError) return;
    const error = toTidemarkError(err);
    this.fatalError = error;
    this.fenced = true;
    this.logger.error({ err: error }, 'Kafka journal consumer stops: it will not archive this data');
    this.opts.onFatal?.(error);
    void this.stop();
  }

  // ---- group membership -------------------------------------------------------------------

  private onRebalancing(why: string): void {
    this.rebalances++;
    this.fenced = true;
    this.logger.info({ why }, 'consumer group rebalancing: flushing journals');
    void this.flushAll().then(() => this.commitNow());
  }

  /**
   * A new generation of the group. Every journal of the previous one is retired (flushed and
   * closed): even a source this process keeps may have been written by another process in
   * between (if this one was dropped from the group and rejoined), so it is opened afresh from
   * the store's tip, once the old instance has closed. Kafka resends each kept source from its
   * committed offset; the new journal drops what is already archived.
   */
  private onGroupJoin(assignment: Record<string, number[] | undefined>): void {
    const assigned = new Set(
      Object.entries(assignment)
        .filter(([, partitions]) => partitions?.includes(0))
        .map(([topic]) => topic),
    );
    for (const state of [...this.states.values()]) {
      this.retire(state);
      const wasRecovering = state.recovering;
      this.newEpoch(state);
      if (!assigned.has(state.topic)) {
        this.states.delete(state.topic);
        this.logger.info({ source: state.source }, 'source released to another journal process');
      } else if (wasRecovering) {
        try {
          this.consumer?.resume([{ topic: state.topic, partitions: [0] }]);
        } catch {
          // not running
        }
      }
    }
    for (const topic of assigned) this.stateFor(topic);
    this.logger.info({ sources: [...assigned].map((t) => t.slice(this.prefix.length)) }, 'sources assigned');
    if (!this.fatalError && !this.stopping) this.fenced = false;
  }

  /** Detaches the source's journal and closes it; the next instance opens only after that. */
  private retire(state: SourceState): void {
    const { journal, opening, topic } = state;
    state.journal = undefined;
    state.opening = undefined;
    if (!journal && !opening) return;
    const previous = this.closing.get(topic) ?? Promise.resolve();
    const done: Promise<void> = previous
      .then(async () => {
        const j = journal ?? (await opening?.catch(() => undefined));
        await j?.close();
      })
      .catch((err: unknown) =>
        this.logger.warn({ err, source: state.source }, 'closing a retired journal failed'),
      )
      .finally(() => {
        if (this.closing.get(topic) === done) this.closing.delete(topic);
      });
    this.closing.set(topic, done);
  }

  private newEpoch(state: SourceState): void {
    state.epoch++;
    state.progress = new PartitionProgress();
    state.reassembler = new ChunkReassembler();
    state.inflight.clear();
    state.pendingBytes = 0;
    state.recovering = false;
    state.epochStart = undefined;
  }

  private stateFor(topic: string): SourceState | undefined {
    const existing = this.states.get(topic);
    if (existing) return existing;
    const source = topic.slice(this.prefix.length);
    if (!topic.startsWith(this.prefix) || !SOURCE_NAME.test(source)) {
      this.fatal(new TidemarkError('CONFIG_INVALID', `topic "${topic}" is not named ${this.prefix}<source>`));
      return undefined;
    }
    const state: SourceState = {
      source,
      topic,
      journal: undefined,
      opening: undefined,
      epoch: 0,
      progress: new PartitionProgress(),
      reassembler: new ChunkReassembler(),
      inflight: new Set(),
      pendingBytes: 0,
      recovering: false,
      committed: undefined,
      epochStart: undefined,
      highWatermark: undefined,
      retryDelayMs: this.retryDelay.initial,
      lastError: undefined,
    };
    this.states.set(topic, state);
    return state;
  }

  private journalFor(state: SourceState): Promise<Journal> {
    if (state.journal) return Promise.resolve(state.journal);
    const retired = this.closing.get(state.topic);
    state.opening ??= (
      retired ? retired.then(() => this.opts.makeJournal(state.source)) : this.opts.makeJournal(state.source)
    ).then(
      (journal) => {
        state.journal = journal;
        return journal;
      },
      (err: unknown) => {
        state.opening = undefined;
        throw err;
      },
    );
    return state.opening;
  }

  private get retryDelay(): { initial: number; max: number } {
    return this.opts.retryDelayMs ?? { initial: 500, max: 30_000 };
  }

  // ---- flushing and committing ------------------------------------------------------------

  /** Seals every journal's open segment and waits until all writes handed over have settled. */
  private flushAll(): Promise<void> {
    this.flushing ??= (async () => {
      const states = [...this.states.values()];
      await Promise.allSettled(states.map((s) => s.journal?.flush()));
      await Promise.allSettled(states.flatMap((s) => [...s.inflight]));
    })().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private scheduleCommit(): void {
    if (this.commitTimer || !this.running) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = undefined;
      void this.commitNow();
    }, 20);
  }

  /** Commits, for every source, the offset before which everything is durable. Never throws. */
  private commitNow(): Promise<void> {
    if (this.committing) {
      this.commitAgain = true;
      return this.committing;
    }
    this.committing = (async () => {
      do {
        this.commitAgain = false;
        const consumer = this.consumer;
        if (!consumer) return;
        const due: { state: SourceState; offset: bigint }[] = [];
        for (const state of this.states.values()) {
          const offset = state.progress.committable(state.reassembler.oldestOpenOffset);
          const floor = state.committed ?? state.epochStart;
          if (offset !== undefined && (floor === undefined || offset > floor)) {
            due.push({ state, offset });
          }
        }
        if (due.length === 0) return;
        try {
          await consumer.commitOffsets(
            due.map(({ state, offset }) => ({ topic: state.topic, partition: 0, offset: offset.toString() })),
          );
          for (const { state, offset } of due) {
            if (state.committed === undefined || offset > state.committed) state.committed = offset;
          }
        } catch (err) {
          this.logger.warn(
            { err },
            'committing Kafka offsets failed; retrying with the next durable segment',
          );
          return;
        }
      } while (this.commitAgain);
    })().finally(() => {
      this.committing = undefined;
    });
    return this.committing;
  }

  private async shutdown(): Promise<void> {
    this.fenced = true;
    clearTimeout(this.commitTimer);
    const consumer = this.consumer;
    try {
      consumer?.pause([...this.states.keys()].map((topic) => ({ topic, partitions: [0] })));
    } catch {
      // not running
    }
    await this.flushAll();
    await this.commitNow();
    await consumer
      ?.disconnect()
      .catch((err: unknown) => this.logger.warn({ err }, 'leaving the consumer group failed'));
    this.running = false;
    for (const state of this.states.values()) this.retire(state);
    await Promise.allSettled([...this.closing.values()]);
    this.logger.info({}, 'Kafka journal consumer stopped');
  }
}

function isRebalancing(err: unknown): boolean {
  const type = (err as { type?: unknown } | null)?.type;
  return (
    type === 'REBALANCE_IN_PROGRESS' || type === 'NOT_COORDINATOR_FOR_GROUP' || type === 'ILLEGAL_GENERATION'
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
