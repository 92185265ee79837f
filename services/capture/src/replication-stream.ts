import { formatLsn, type Lsn, parseLsn } from '@tidemark/shared';
import type pg from 'pg';
import { LogicalReplicationService } from 'pg-logical-replication';
import { quoteIdent, quoteLiteral, replicationClientConfig } from './pg-connection.js';
import { decodePgoutput, type PgoutputMessage } from './pgoutput-decoder.js';

/**
 * One streaming session on the slot. pg-logical-replication is the transport only (it speaks
 * the replication sub-protocol: START_REPLICATION, CopyData framing, keepalives, standby
 * status); decoding is ours, through a plugin that hands the raw pgoutput bytes to our decoder.
 *
 * Confirmation is ours too: the library's auto-acknowledge confirms mid-transaction positions
 * and its timer re-sends the last *received* LSN, both unsafe, so both are off. The server
 * only ever hears of LSNs given to `confirm()`, i.e. durable ones.
 */
export interface ReplicationStreamOptions {
  readonly sourceUrl: string;
  readonly slotName: string;
  readonly publicationName: string;
  /** the slot's confirmed_flush_lsn when we start: what keepalive replies carry until confirm() */
  readonly confirmedLsn: Lsn;
  /** called synchronously for every message, in order; must not throw */
  readonly onMessage: (msg: PgoutputMessage) => void;
  /** the session ended other than through stop(): lost connection, server error, undecodable data */
  readonly onEnd: (err: Error) => void;
  /** a standby status update carrying `lsn` was sent (a confirmation or a keepalive reply) */
  readonly onStatusUpdate?: (lsn: Lsn) => void;
}

type ParseResult =
  | { readonly ok: true; readonly msg: PgoutputMessage }
  | { readonly ok: false; readonly err: Error };

/** the library's plugin contract (its AbstractPlugin class is not exported; the contract is structural) */
type TransportPlugin = Parameters<LogicalReplicationService['subscribe']>[0];

/** Gives our decoder the bytes; never throws (a throw would escape the socket handler and crash the process). */
class RawPgoutputPlugin implements TransportPlugin {
  constructor(readonly options: { publicationName: string }) {}

  get name(): string {
    return 'pgoutput';
  }

  parse(buffer: Buffer): ParseResult {
    try {
      return { ok: true, msg: decodePgoutput(buffer) };
    } catch (err) {
      return { ok: false, err: err instanceof Error ? err : new Error(String(err)) };
    }
  }

  start(client: pg.Client, slotName: string, lastLsn: string): Promise<unknown> {
    // protocol 1, no streaming of in-progress transactions, logical messages included
    const options = [
      `proto_version '1'`,
      `publication_names ${quoteLiteral(quoteIdent(this.options.publicationName))}`,
      `messages 'true'`,
    ];
    return client.query(
      `START_REPLICATION SLOT ${quoteIdent(slotName)} LOGICAL ${lastLsn} (${options.join(', ')})`,
    );
  }
}

export class ReplicationStream {
  private readonly service: LogicalReplicationService;
  private confirmed: Lsn;
  private received: Lsn = 0n;
  private started: boolean = false;
  private stopping: boolean = false;
  private ended: boolean = false;

  constructor(private readonly opts: ReplicationStreamOptions) {
    this.confirmed = opts.confirmedLsn;
    this.service = new LogicalReplicationService(replicationClientConfig(opts.sourceUrl), {
      acknowledge: { auto: false, timeoutSeconds: 0 },
    });
    this.service.on('data', (lsn: string, parsed: ParseResult) => {
      if (this.stopping || this.ended) return;
      if (!parsed.ok) {
        this.fail(parsed.err);
        return;
      }
      this.received = parseLsn(lsn);
      try {
        opts.onMessage(parsed.msg);
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
    this.service.on('heartbeat', (_lsn: string, _time: number, shouldRespond: boolean) => {
      // a keepalive asking for a reply gets the last confirmed LSN, never the received one
      if (shouldRespond) this.sendStatus();
    });
    // before the session started, a connection error also fails subscribe(), which start() reports
    this.service.on('error', (err: Error) => {
      if (this.started) this.fail(err);
    });
  }

  /** LSN of the start of the last WAL data received */
  get receivedLsn(): Lsn {
    return this.received;
  }

  /**
   * Starts streaming from the slot's confirmed position. Resolves once the server has
   * accepted START_REPLICATION; the session's end is reported through `onEnd`.
   */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.service.once('start', () => {
        this.started = true;
        resolve();
      });
      const plugin = new RawPgoutputPlugin({ publicationName: this.opts.publicationName });
      // 0/0: the server starts at the slot's confirmed_flush_lsn. Never pass a received
      // position here: the server would skip transactions not yet confirmed.
      this.service.subscribe(plugin, this.opts.slotName, '0/0').then(
        () => this.endWith(new Error('replication stream ended by the server'), reject),
        (err: unknown) => this.endWith(err instanceof Error ? err : new Error(String(err)), reject),
      );
    });
  }

  /**
   * Tells the server everything up to `lsn` (a commit's end LSN) is durable: one standby status
   * update per call that moves forward. Callers coalesce (one call per burst of durable writes).
   */
  confirm(lsn: Lsn): void {
    if (lsn <= this.confirmed) return;
    this.confirmed = lsn;
    this.sendStatus();
  }

  get confirmedLsn(): Lsn {
    return this.confirmed;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.service.destroy().catch(() => undefined);
  }

  private sendStatus(): void {
    if (this.confirmed === 0n || this.stopping || this.ended) return;
    // the library reports `lsn + 1` as written/flushed/applied, so pass one less
    this.service.acknowledge(formatLsn(this.confirmed - 1n)).catch(() => undefined);
    this.opts.onStatusUpdate?.(this.confirmed);
  }

  /** before the session started, the failure belongs to start()'s caller; after, to onEnd */
  private endWith(err: Error, reject: (err: Error) => void): void {
    if (this.started) {
      this.fail(err);
      return;
    }
    this.ended = true;
    void this.service.destroy().catch(() => undefined);
    reject(err);
  }

  private fail(err: Error): void {
    if (this.ended) return;
    this.ended = true;
    if (this.stopping) return;
    void this.service.destroy().catch(() => undefined);
    this.opts.onEnd(err);
  }
}
