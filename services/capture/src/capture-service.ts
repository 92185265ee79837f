import {
  formatLsn,
  type Lsn,
  type MicrosSinceEpoch,
  type ObjectStore,
  parseLsn,
  type SnapshotTableSealing,
  type TransactionRecord,
  type TransactionSink,
} from '@tidemark/shared';
import { ensureBaseSnapshot } from './base-snapshot.js';
import type { CaptureLogger } from './capture-logger.js';
import { ConfirmationQueue } from './confirmation-queue.js';
import { ensureDdlCapture } from './ddl-capture.js';
import { Heartbeat } from './heartbeat.js';
import { NewTableWatcher } from './new-table-watcher.js';
import { connectSql } from './pg-connection.js';
import type { PgoutputMessage } from './pgoutput-decoder.js';
import { ReplicationStream } from './replication-stream.js';
import { checkSource, ensurePublication, type TablesWithoutKeyPolicy } from './source-setup.js';
import { TransactionAssembler } from './transaction-assembler.js';

export interface CaptureServiceOptions {
  readonly sourceUrl: string;
  readonly sourceName: string;
  readonly slotName: string;
  readonly publicationName: string;
  readonly tablesWithoutKey: TablesWithoutKeyPolicy;
  readonly store: ObjectStore;
  readonly sink: TransactionSink;
  /** how base snapshot table data is stored (zstd blocks, encryption); absent: plain COPY text */
  readonly snapshotSealing?: SnapshotTableSealing;
  /** 0 disables the heartbeat */
  readonly heartbeatIntervalMs: number;
  /** how often to look for tables that joined the publication and take their table snapshot (0 or absent: never) */
  readonly newTableCheckMs?: number;
  readonly logger: CaptureLogger;
  /** reconnect backoff: first delay and cap (defaults 200 ms and 30 s) */
  readonly reconnectDelayMs?: { readonly initial: number; readonly max: number };
}

export interface CaptureStatus {
  /** a replication session is streaming */
  readonly connected: boolean;
  /** LSN of the base snapshot the journal starts from */
  readonly snapshotLsn: Lsn | undefined;
  /** end LSN of the newest transaction confirmed to the server (durable downstream) */
  readonly confirmedLsn: Lsn | undefined;
  /** end LSN of the newest transaction received */
  readonly receivedLsn: Lsn | undefined;
  /** commit time of the newest durable transaction, µs since the Unix epoch */
  readonly lastCommitTime: MicrosSinceEpoch | undefined;
  /** transactions handed to the sink and not yet durable */
  readonly pendingWrites: number;
  /** replication sessions restarted after a failure */
  readonly restarts: number;
  /** standby status updates sent to the server (confirmations and keepalive replies), all sessions */
  readonly statusUpdates: number;
  readonly lastError: string | undefined;
}

/**
 * Capture: setup, base snapshot, then streaming from the slot to the sink.
 *
 * No loss: each transaction goes to `sink.write` as soon as it is assembled (not awaited, so
 * throughput does not serialise on the sink's durability latency); the server is told an LSN
 * only once that transaction and all before it are durable. Any failure (a rejected write, a
 * lost connection, undecodable data) ends the session and starts a new one from the slot's
 * confirmed position: transactions are then delivered again, and the journal drops those it
 * already has by commit LSN.
 */
export class CaptureService {
  private readonly heartbeat: Heartbeat;
  private readonly queue = new ConfirmationQueue();
  private stream: ReplicationStream | undefined;
  /** bumped for every session: callbacks of an older session are ignored */
  private session = 0;
  private stopped: boolean = false;
  private draining: boolean = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private readonly pending = new Set<Promise<void>>();
  /** a confirmation is scheduled for the end of this event-loop turn (see scheduleConfirm) */
  private confirmScheduled: NodeJS.Immediate | undefined;
  private newTables: NewTableWatcher | undefined;
  private state = {
    connected: false,
    snapshotLsn: undefined as Lsn | undefined,
    confirmedLsn: undefined as Lsn | undefined,
    receivedLsn: undefined as Lsn | undefined,
    lastCommitTime: undefined as MicrosSinceEpoch | undefined,
    restarts: 0,
    statusUpdates: 0,
    lastError: undefined as string | undefined,
  };

  constructor(private readonly opts: CaptureServiceOptions) {
    this.heartbeat = new Heartbeat(opts.sourceUrl, opts.heartbeatIntervalMs, opts.logger);
    this.backoffMs = this.backoff.initial;
  }

  get status(): CaptureStatus {
    return { ...this.state, pendingWrites: this.queue.length };
  }

  /** Setup, base snapshot if needed, then streaming. Resolves once the first session streams. */
  async start(): Promise<void> {
    const client = await connectSql(this.opts.sourceUrl);
    try {
      await checkSource(client);
      await ensurePublication(client, {
        publicationName: this.opts.publicationName,
        tablesWithoutKey: this.opts.tablesWithoutKey,
        logger: this.opts.logger,
      });
      // before the snapshot, so every schema change after its consistent point is captured
      await ensureDdlCapture(client, this.opts.logger);
    } finally {
      await client.end();
    }
    const snapshot = await ensureBaseSnapshot({
      sourceUrl: this.opts.sourceUrl,
      source: this.opts.sourceName,
      slotName: this.opts.slotName,
      publicationName: this.opts.publicationName,
      store: this.opts.store,
      logger: this.opts.logger,
      ...(this.opts.snapshotSealing ? { sealing: this.opts.snapshotSealing } : {}),
    });
    this.state.snapshotLsn = snapshot.lsn;
    const durable = await this.opts.sink.durableLsn();
    this.opts.logger.info(
      {
        snapshotLsn: formatLsn(snapshot.lsn),
        sinkDurableLsn: durable === undefined ? null : formatLsn(durable),
      },
      'capture starting to stream',
    );
    if (this.opts.newTableCheckMs) {
      this.newTables = new NewTableWatcher({
        sourceUrl: this.opts.sourceUrl,
        source: this.opts.sourceName,
        publicationName: this.opts.publicationName,
        store: this.opts.store,
        logger: this.opts.logger,
        sealing: this.opts.snapshotSealing ?? { compress: false },
        manifestKey: snapshot.manifestKey,
        intervalMs: this.opts.newTableCheckMs,
      });
      // before streaming: the filter must know the tables from the first transaction on
      await this.newTables.init();
    }
    await this.connect();
    this.heartbeat.start();
    this.newTables?.start();
  }

  /** Stops the heartbeat and the stream; waits for writes in flight and confirms what became durable. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.draining = true; // the session stays open only to confirm: further messages are ignored
    clearTimeout(this.restartTimer);
    await this.heartbeat.stop();
    await this.newTables?.stop();
    await Promise.allSettled([...this.pending]);
    clearImmediate(this.confirmScheduled);
    this.confirmScheduled = undefined;
    this.confirmDurable();
    await this.stream?.stop();
    this.stream = undefined;
    this.state.connected = false;
  }

  private get backoff(): { initial: number; max: number } {
    return this.opts.reconnectDelayMs ?? { initial: 200, max: 30_000 };
  }

  private async connect(): Promise<void> {
    const session = ++this.session;
    this.queue.clear();
    const confirmed = await this.slotPosition();
    const assembler = new TransactionAssembler(this.opts.sourceName);
    const stream = new ReplicationStream({
      sourceUrl: this.opts.sourceUrl,
      slotName: this.opts.slotName,
      publicationName: this.opts.publicationName,
      confirmedLsn: confirmed,
      onMessage: (msg) => this.onMessage(session, assembler, msg),
      onEnd: (err) => this.restart(session, 'replication stream ended', err),
      onStatusUpdate: () => {
        this.state.statusUpdates++;
      },
    });
    this.stream = stream;
    await stream.start();
    if (this.stopped || session !== this.session) {
      await stream.stop();
      return;
    }
    this.state.connected = true;
    this.backoffMs = this.backoff.initial;
    this.opts.logger.info({ slot: this.opts.slotName, from: formatLsn(confirmed) }, 'streaming');
  }

  /**
   * The slot's confirmed position, once no other session holds the slot (the walsender of a
   * session we just ended may still be exiting).
   */
  private async slotPosition(): Promise<Lsn> {
    const client = await connectSql(this.opts.sourceUrl);
    try {
      for (let attempt = 0; ; attempt++) {
        const res = await client.query<{ confirmed: string | null; active: boolean }>(
          'select confirmed_flush_lsn::text as confirmed, active from pg_replication_slots where slot_name = $1',
          [this.opts.slotName],
        );
        const row = res.rows[0];
        if (!row || row.confirmed === null)
          throw new Error(`replication slot "${this.opts.slotName}" is missing`);
        if (!row.active || attempt >= 50) return parseLsn(row.confirmed);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await client.end();
    }
  }

  private onMessage(session: number, assembler: TransactionAssembler, msg: PgoutputMessage): void {
    if (session !== this.session || this.draining) return;
    const out = assembler.push(msg); // a protocol error throws: the stream ends the session
    if (!out) return;
    if (out.kind === 'message') {
      this.opts.logger.debug(
        { prefix: out.prefix, lsn: formatLsn(out.lsn) },
        'non-transactional message ignored',
      );
      return;
    }
    // changes to tables that wait for their table snapshot stay out (new-table-watcher.ts)
    const tx = this.newTables ? this.newTables.filter(out.record) : out.record;
    this.state.receivedLsn = tx.endLsn;
    if (tx.changes.length === 0) {
      // nothing to journal (possible before PG 15, or everything filtered): confirmable in order
      this.queue.push(tx.commitLsn, tx.endLsn, tx.commitTime, true);
      this.scheduleConfirm();
      return;
    }
    const ticket = this.queue.push(tx.commitLsn, tx.endLsn, tx.commitTime);
    const write = this.write(tx).then(
      () => {
        ticket.durable = true;
        if (session === this.session) this.scheduleConfirm();
      },
      (err: unknown) => this.restart(session, `sink write of ${formatLsn(tx.commitLsn)} failed`, err),
    );
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
  }

  private write(tx: TransactionRecord): Promise<void> {
    try {
      return this.opts.sink.write(tx);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Confirms once per event-loop turn, however many writes resolved in it. A durable segment
   * resolves the writes of all its transactions (tens of thousands) in one burst of promise
   * callbacks; confirming in each would send one standby status update per transaction. They
   * only mark their tickets durable and ask for this; the turn's single confirmation then
   * carries the newest end LSN of the durable prefix, which implies all those before it.
   * setImmediate runs after the pending promise callbacks and I/O of this turn, so the burst
   * is complete by then; it adds no timer latency.
   */
  private scheduleConfirm(): void {
    if (this.confirmScheduled !== undefined) return;
    this.confirmScheduled = setImmediate(() => {
      this.confirmScheduled = undefined;
      // a restart meanwhile cleared the queue: only what the current session made durable is taken
      this.confirmDurable();
    });
  }

  /** Confirms the durable prefix of the queue (its newest end LSN), if it grew. */
  private confirmDurable(): void {
    const ticket = this.queue.takeConfirmable();
    if (!ticket) return;
    if (this.state.confirmedLsn === undefined || ticket.endLsn > this.state.confirmedLsn) {
      this.state.confirmedLsn = ticket.endLsn;
      this.state.lastCommitTime = ticket.commitTime;
    }
    this.stream?.confirm(ticket.endLsn);
  }

  /** Ends the session `session` (if still current) and starts a new one after a backoff delay. */
  private restart(session: number, reason: string, err: unknown): void {
    if (session !== this.session) return;
    const message = err instanceof Error ? err.message : String(err);
    this.state.lastError = `${reason}: ${message}`;
    if (this.stopped) {
      // no new session; a write behind a failed one must not be confirmed by stop()
      this.queue.clear();
      this.opts.logger.error({ err }, `${reason} while stopping`);
      return;
    }
    this.session++; // invalidates the old session's callbacks and pending writes
    this.queue.clear();
    this.state.connected = false;
    this.state.restarts++;
    const old = this.stream;
    this.stream = undefined;
    void old?.stop();
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.backoff.max);
    this.opts.logger.error({ err, retryInMs: delay }, `${reason}; restarting from the slot`);
    this.restartTimer = setTimeout(() => {
      // connect() opens the next session; if it fails, that session is the current one
      this.connect().catch((e: unknown) => this.restart(this.session, 'reconnect failed', e));
    }, delay);
  }
}
