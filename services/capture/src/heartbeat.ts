import { MESSAGE_PREFIX } from '@tidemark/shared';
import type pg from 'pg';
import type { CaptureLogger } from './capture-logger.js';
import { connectSql } from './pg-connection.js';

/**
 * Writes a transactional logical message into the source's WAL at an interval. An idle
 * source then still produces commits with fresh commit timestamps, so the journal's newest
 * restorable time keeps pace with the server clock and the slot keeps advancing (an idle
 * slot would otherwise pin WAL written by other databases or unpublished tables).
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private client: pg.Client | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly sourceUrl: string,
    private readonly intervalMs: number,
    private readonly logger: CaptureLogger,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      // one at a time: a slow server must not pile up heartbeats
      this.inFlight ??= this.beat().finally(() => {
        this.inFlight = undefined;
      });
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }

  /** one heartbeat now; errors are logged, never thrown (the next beat reconnects) */
  async beat(): Promise<void> {
    try {
      this.client ??= await connectSql(this.sourceUrl, (err) => {
        this.logger.warn({ err }, 'heartbeat connection lost');
        this.client = undefined;
      });
      await this.client.query('select pg_logical_emit_message(true, $1::text, $2::text)', [
        MESSAGE_PREFIX.heartbeat,
        new Date().toISOString(),
      ]);
    } catch (err) {
      this.logger.warn({ err }, 'heartbeat failed');
      const client = this.client;
      this.client = undefined;
      await client?.end().catch(() => undefined);
    }
  }
}
