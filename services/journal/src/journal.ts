import {
  encodeRecord,
  formatLsn,
  initChecksums,
  isTidemarkError,
  type KeyProvider,
  type Lsn,
  type ObjectStore,
  type SegmentCompression,
  sealSegment,
  segmentKey,
  sourceRegistryKey,
  TidemarkError,
  type TransactionRecord,
  type TransactionSink,
} from '@tidemark/shared';
import {
  type ChainHead,
  headFromNewestSnapshot,
  headFromTip,
  readTip,
  tipDocument,
  writeTip,
} from './chain-head.js';
import { type JournalLogger, silentLogger } from './journal-logger.js';
import { OpenSegment } from './open-segment.js';
import { resolveOrphans } from './orphan-resolver.js';
import { withRetries } from './retry.js';

export interface JournalOptions {
  readonly store: ObjectStore;
  readonly source: string;
  /** seal the open segment once its records reach this many bytes */
  readonly maxSegmentBytes: number;
  /** seal the open segment this long after its first record: the archive RPO */
  readonly maxSegmentAgeMs: number;
  readonly logger?: JournalLogger;
  /** how segments store their records (default zstd: blocks of records compressed) */
  readonly compression?: SegmentCompression;
  /**
   * set: every new segment is encrypted (AES-256-GCM) with a fresh data key wrapped by
   * `provider`'s newest master key; orphans found on start are decrypted with it too
   */
  readonly encryption?: { readonly provider: KeyProvider };
  /** called after each segment becomes durable (metrics, replication hooks) */
  readonly onDurable?: (info: DurableSegmentInfo) => void;
}

export interface DurableSegmentInfo {
  readonly key: string;
  /** stored size of the segment */
  readonly bytes: number;
  /** size of its record frames before compression */
  readonly recordBytes: number;
  readonly records: number;
  readonly firstLsn: Lsn;
  readonly lastLsn: Lsn;
  readonly lastCommitTime: bigint;
  readonly uploadMs: number;
}

export interface JournalStatus {
  readonly open: boolean;
  readonly lastArchivedLsn: Lsn | undefined;
  readonly lastArchivedCommitTime: bigint | undefined;
  readonly segmentsWritten: number;
  readonly duplicatesDropped: number;
  readonly pendingRecords: number;
}

/**
 * Packs transactions into segments, makes them durable in the store, then moves the tip.
 * As a TransactionSink, `write` resolves only once the record's segment is durable, which
 * is what lets capture confirm the LSN to PostgreSQL. Transactions whose commit LSN is not
 * beyond the newest one already accepted are dropped (redelivery after a crash is normal).
 */
export class Journal implements TransactionSink {
  private head: ChainHead | undefined;
  private current: OpenSegment | undefined;
  /** sealed segments whose upload has not finished, oldest first */
  private readonly inflight: OpenSegment[] = [];
  private ageTimer: NodeJS.Timeout | undefined;
  /** serialises seals so segments land, and the tip moves, strictly in chain order */
  private sealing: Promise<void> = Promise.resolve();
  private lastAcceptedLsn: Lsn | undefined;
  /** set when another writer moved the tip: reload the head before the next segment */
  private stale = false;
  private segmentsWritten = 0;
  private duplicatesDropped = 0;
  private closed = false;
  private readonly logger: JournalLogger;

  constructor(private readonly options: JournalOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /** Reads the tip, adopts or removes orphans, registers the source. Idempotent. */
  async open(): Promise<void> {
    await initChecksums();
    const { store, source } = this.options;
    await this.register();
    const tip = await readTip(store, source);
    const start = tip ? headFromTip(tip) : await headFromNewestSnapshot(store, source);
    if (!start) {
      this.logger.info({ source }, 'journal has no base snapshot yet; waiting for capture to take one');
      return;
    }
    const { head, adopted } = await resolveOrphans(
      store,
      source,
      start,
      this.logger,
      this.options.encryption?.provider,
    );
    const last = adopted.at(-1);
    if (last && head.segmentKey)
      await writeTip(store, tipDocument(source, head, { key: head.segmentKey, firstLsn: last.firstLsn }));
    this.head = head;
    this.lastAcceptedLsn = head.lastLsn;
    this.logger.info(
      { source, lastLsn: formatLsn(head.lastLsn), segment: head.segmentKey },
      'journal opened',
    );
  }

  async durableLsn(): Promise<Lsn | undefined> {
    return this.head?.lastLsn;
  }

  get status(): JournalStatus {
    return {
      open: this.head !== undefined,
      lastArchivedLsn: this.head?.lastLsn,
      lastArchivedCommitTime: this.head?.lastCommitTime,
      segmentsWritten: this.segmentsWritten,
      duplicatesDropped: this.duplicatesDropped,
      pendingRecords: this.current?.records.length ?? 0,
    };
  }

  write(tx: TransactionRecord): Promise<void> {
    if (this.closed) return Promise.reject(new TidemarkError('JOURNAL_NOT_READY', 'journal is closed'));
    if (tx.source !== this.options.source) {
      return Promise.reject(
        new TidemarkError(
          'BAD_REQUEST',
          `journal of "${this.options.source}" got a transaction of "${tx.source}"`,
        ),
      );
    }
    if (this.lastAcceptedLsn !== undefined && tx.commitLsn <= this.lastAcceptedLsn) {
      this.duplicatesDropped++;
      return this.durableWhenAccepted(tx.commitLsn);
    }
    this.lastAcceptedLsn = tx.commitLsn;
    if (!this.current) {
      this.current = new OpenSegment(Date.now());
      this.ageTimer = setTimeout(() => void this.seal().catch(() => {}), this.options.maxSegmentAgeMs);
    }
    const done = this.current.add(encodeRecord(tx), tx.commitLsn, tx.commitTime);
    if (this.current.bytes >= this.options.maxSegmentBytes) void this.seal().catch(() => {});
    return done;
  }

  /** A redelivered transaction is as durable as the segment that holds its first delivery. */
  private durableWhenAccepted(lsn: Lsn): Promise<void> {
    if (this.head && lsn <= this.head.lastLsn) return Promise.resolve();
    const holder = [...this.inflight, ...(this.current ? [this.current] : [])].find(
      (s) => s.lastLsn !== undefined && s.lastLsn >= lsn,
    );
    return holder ? holder.durable : Promise.resolve();
  }

  /** Seals what is open and waits until everything written so far is durable. */
  async flush(): Promise<void> {
    await this.seal();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
  }

  private seal(): Promise<void> {
    const segment = this.current;
    if (this.ageTimer) clearTimeout(this.ageTimer);
    this.ageTimer = undefined;
    this.current = undefined;
    if (!segment || segment.isEmpty) return this.sealing;
    segment.lifecycle.to('sealed');
    this.inflight.push(segment);
    this.sealing = this.sealing
      .then(() => this.persist(segment))
      .finally(() => {
        this.inflight.splice(this.inflight.indexOf(segment), 1);
      });
    return this.sealing;
  }

  private async persist(segment: OpenSegment): Promise<void> {
    const { store, source } = this.options;
    if (segment.doomedBy !== undefined) {
      segment.markFailed(segment.doomedBy);
      return;
    }
    try {
      if (!this.head || this.stale) {
        this.head = await this.reloadHead();
        this.stale = false;
      }
      const head = this.head;
      await this.checkStillTheWriter(head);
      // after a reload, what another writer archived meanwhile is durable already
      const records = segment.records.filter((r) => r.commitLsn > head.lastLsn);
      if (records.length === 0) {
        segment.markDurable();
        return;
      }
      const first = records[0]!;
      const last = records.at(-1)!;
      const encoded = await sealSegment(
        { source, prevSha256: head.sha256, createdAt: new Date().toISOString(), records },
        {
          compression: this.options.compression ?? 'zstd',
          ...(this.options.encryption ? { keys: this.options.encryption.provider } : {}),
        },
      );
      // biome-ignore lint/complexity/useMathMinMax: bigint, which Math.max does not take
      const partition = first.commitTime > head.partitionMicros ? first.commitTime : head.partitionMicros;
      const key = segmentKey(source, partition, first.commitLsn, last.commitLsn);
      const started = Date.now();
      await withRetries(() => store.put(key, encoded.bytes), { what: `upload ${key}`, logger: this.logger });
      const next: ChainHead = {
        sha256: encoded.sha256,
        lastLsn: last.commitLsn,
        lastCommitTime: encoded.header.lastCommitTime,
        partitionMicros: partition,
        snapshotLsn: head.snapshotLsn,
        segmentKey: key,
      };
      await withRetries(
        () => writeTip(store, tipDocument(source, next, { key, firstLsn: first.commitLsn })),
        {
          what: `update tip after ${key}`,
          logger: this.logger,
        },
      );
      this.head = next;
      this.segmentsWritten++;
      segment.markDurable();
      this.options.onDurable?.({
        key,
        bytes: encoded.bytes.byteLength,
        recordBytes: encoded.recordBytes,
        records: records.length,
        firstLsn: first.commitLsn,
        lastLsn: last.commitLsn,
        lastCommitTime: next.lastCommitTime,
        uploadMs: Date.now() - started,
      });
    } catch (err) {
      // Nothing of this segment was acknowledged: the writers are told, and the upstream
      // (slot or Kafka offset) replays from its durable position. Later records accepted
      // meanwhile are failed too, since they would leave a hole in the chain.
      this.logger.error({ err, source }, 'segment could not be made durable; upstream will replay');
      segment.markFailed(err);
      for (const later of this.inflight) if (later !== segment) later.doomedBy = err;
      const pending = this.current;
      this.current = undefined;
      if (this.ageTimer) clearTimeout(this.ageTimer);
      this.ageTimer = undefined;
      pending?.lifecycle.to('sealed');
      pending?.markFailed(err);
      // fenced: our idea of the head is stale, so de-duplication waits for the reload
      this.lastAcceptedLsn = isTidemarkError(err, 'CONFLICT') ? undefined : this.head?.lastLsn;
      if (isTidemarkError(err, 'CONFLICT')) this.stale = true;
    }
  }

  /**
   * Fencing for handovers (a source moving between journal processes in a rebalance): the
   * tip in the store must still be the one this journal last wrote or read. Otherwise
   * another process has archived since, and writing now would fork the chain; the journal
   * fails this segment, reloads the head, and the upstream replays.
   */
  private async checkStillTheWriter(head: ChainHead): Promise<void> {
    const tip = await readTip(this.options.store, this.options.source);
    const expected = head.segmentKey === null ? undefined : head.sha256;
    if (tip?.sha256 === expected) return;
    throw new TidemarkError(
      'CONFLICT',
      `the tip of source "${this.options.source}" was moved by another journal process (expected ${expected ?? 'no tip'}, found ${tip?.sha256 ?? 'no tip'}); this journal reloads and the upstream replays`,
    );
  }

  private async reloadHead(): Promise<ChainHead> {
    const tip = await readTip(this.options.store, this.options.source);
    return tip ? headFromTip(tip) : this.startOfChain();
  }

  private async startOfChain(): Promise<ChainHead> {
    const head = await headFromNewestSnapshot(this.options.store, this.options.source);
    if (!head) {
      throw new TidemarkError(
        'JOURNAL_NOT_READY',
        `no base snapshot for source "${this.options.source}": the journal cannot start its chain before capture has taken one`,
      );
    }
    return head;
  }

  private async register(): Promise<void> {
    const { store, source } = this.options;
    const key = sourceRegistryKey(source);
    if (await store.head(key)) return;
    const doc = { name: source, createdAt: new Date().toISOString() };
    await store.put(key, new TextEncoder().encode(`${JSON.stringify(doc)}\n`));
  }
}
