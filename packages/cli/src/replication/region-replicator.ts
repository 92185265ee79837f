import { writeReplicationStatus } from '@tidemark/restore';
import {
  isTidemarkError,
  type ObjectStore,
  sourceRegistryPrefix,
  type TipDocument,
  toTidemarkError,
} from '@tidemark/shared';
import { copyVerified, putVerified } from './object-copy.js';
import { replicateSource } from './source-replication.js';

export interface ReplicatorLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Per source: how far the region is behind, as of the last pass (or the one running). */
export interface SourceLag {
  /** primary tip commit time − region tip commit time; null before the region has a tip */
  lagSeconds: number | null;
  /** bytes found missing or different and not copied yet */
  lagBytes: number;
  /** the region's newest commit time, µs */
  replicaCommitTime: bigint | null;
}

export interface RegionStatus {
  readonly region: string;
  state: 'idle' | 'copying' | 'backing-off' | 'stopped';
  lastError: string | null;
  lastErrorAt: Date | null;
  lastSuccessAt: Date | null;
  passes: number;
  failedPasses: number;
  copiedObjects: number;
  copiedBytes: number;
  readonly sources: Map<string, SourceLag>;
}

export interface RegionReplicatorOptions {
  readonly region: string;
  readonly primary: ObjectStore;
  readonly replica: ObjectStore;
  readonly logger: ReplicatorLogger;
  /** pause between passes when the last one succeeded (default 1000 ms) */
  readonly intervalMs?: number;
  /** pause after a failed pass doubles from intervalMs up to this (default 30 s) */
  readonly maxBackoffMs?: number;
  /** attempts per object copy, including the first (default 5) */
  readonly copyAttempts?: number;
  readonly copyBaseDelayMs?: number;
  /** objects copied at once (default 4) */
  readonly concurrency?: number;
  /** a copied object, for metrics */
  readonly onCopied?: (bytes: number) => void;
}

const STATUS_REWRITE_MS = 60_000;

/**
 * Copies the journal of every registered source from the primary to one replica region,
 * pass after pass (replicateSource keeps the region consistent at every instant), for as
 * long as it runs. Lifecycle: `idle → copying → idle` per pass; a failed pass goes
 * `backing-off` (capped exponential backoff) and the next one starts over from the
 * listings, so nothing depends on in-memory progress: a restart resumes where the
 * region's store says it is. `stop()` → `stopped` after the current copy.
 */
export class RegionReplicator {
  readonly status: RegionStatus;
  private stopping = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private statusWritten: { error: string | null; at: number } | undefined;

  constructor(private readonly opts: RegionReplicatorOptions) {
    this.status = {
      region: opts.region,
      state: 'idle',
      lastError: null,
      lastErrorAt: null,
      lastSuccessAt: null,
      passes: 0,
      failedPasses: 0,
      copiedObjects: 0,
      copiedBytes: 0,
      sources: new Map(),
    };
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    this.status.state = 'stopped';
  }

  /** One pass over every registered source; throws when any source failed (after trying all). */
  async runPass(): Promise<void> {
    this.status.state = 'copying';
    const { primary, replica } = this.opts;
    const sources: string[] = [];
    for await (const o of primary.list(sourceRegistryPrefix)) {
      const name = o.key.slice(sourceRegistryPrefix.length);
      if (name.endsWith('.json') && !name.includes('/')) sources.push(name.slice(0, -'.json'.length));
    }
    const failures: string[] = [];
    for (const source of sources) {
      if (this.stopping) break;
      const lag = this.lagOf(source);
      try {
        const outcome = await replicateSource({
          primary,
          replica,
          source,
          concurrency: this.opts.concurrency ?? 4,
          onPending: (bytes) => {
            lag.lagBytes = bytes;
          },
          onTips: (primaryTip, replicaTip) => setLag(lag, primaryTip, replicaTip),
          copy: (key, kind, size) =>
            this.withRetries(key, async () => {
              const bytes = await copyVerified(primary, replica, key, kind, size);
              this.status.copiedObjects++;
              this.status.copiedBytes += bytes;
              this.opts.onCopied?.(bytes);
              return bytes;
            }),
          publishTip: (bytes) =>
            this.withRetries(`${source}/tip`, async () => {
              await putVerified(replica, `${source}/tip`, bytes);
              this.status.copiedObjects++;
              this.status.copiedBytes += bytes.length;
              this.opts.onCopied?.(bytes.length);
            }),
        });
        lag.lagBytes = 0;
        setLag(lag, outcome.primaryTip, outcome.replicaTip);
      } catch (err) {
        failures.push(`${source}: ${(err as Error).message}`);
      }
    }
    this.status.passes++;
    if (failures.length > 0) throw new Error(failures.join('; '));
  }

  private async run(): Promise<void> {
    const interval = this.opts.intervalMs ?? 1000;
    let delay = interval;
    while (!this.stopping) {
      try {
        await this.runPass();
        if (this.status.lastError !== null)
          this.opts.logger.info({ region: this.opts.region }, 'replication to region recovered');
        this.status.lastError = null;
        this.status.lastSuccessAt = new Date();
        delay = interval;
        this.status.state = 'idle';
      } catch (err) {
        if (this.stopping) break;
        const message = toTidemarkError(err, 'REPLICATION_FAILED').message;
        if (message !== this.status.lastError)
          this.opts.logger.warn(
            { region: this.opts.region, err: message },
            'replication pass failed; retrying',
          );
        this.status.lastError = message;
        this.status.lastErrorAt = new Date();
        this.status.failedPasses++;
        delay = Math.min(this.opts.maxBackoffMs ?? 30_000, Math.max(interval, delay * 2));
        this.status.state = 'backing-off';
      }
      await this.publishStatus();
      await this.sleep(delay);
    }
  }

  /** `_replication/<region>.json` in the primary, for restore services in other processes (best effort). */
  private async publishStatus(): Promise<void> {
    const error = this.status.lastError;
    const last = this.statusWritten;
    if (last && last.error === error && Date.now() - last.at < STATUS_REWRITE_MS) return;
    try {
      await writeReplicationStatus(this.opts.primary, {
        region: this.opts.region,
        lastError: error,
        lastErrorAt: this.status.lastErrorAt?.toISOString() ?? null,
        lastSuccessAt: this.status.lastSuccessAt?.toISOString() ?? null,
        updatedAt: new Date().toISOString(),
      });
      this.statusWritten = { error, at: Date.now() };
    } catch (err) {
      this.opts.logger.warn({ region: this.opts.region, err }, 'could not write the replication status');
    }
  }

  private async withRetries<T>(what: string, work: () => Promise<T>): Promise<T> {
    // stopping ends a pass at the next object: the next start resumes from the listings
    if (this.stopping) throw new Error('the replicator is stopping');
    const attempts = this.opts.copyAttempts ?? 5;
    const base = this.opts.copyBaseDelayMs ?? 200;
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (err) {
        // an object gone from the primary (retention, an orphan removed) is re-listed by the next pass
        const final = isTidemarkError(err) && !err.retriable;
        if (final || attempt >= attempts || this.stopping) throw err;
        const wait = Math.random() * Math.min(5_000, base * 2 ** (attempt - 1));
        this.opts.logger.warn(
          { region: this.opts.region, key: what, attempt, err: (err as Error).message },
          'copy to region failed; retrying',
        );
        await this.sleep(wait);
      }
    }
  }

  private lagOf(source: string): SourceLag {
    let lag = this.status.sources.get(source);
    if (!lag) {
      lag = { lagSeconds: null, lagBytes: 0, replicaCommitTime: null };
      this.status.sources.set(source, lag);
    }
    return lag;
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

function setLag(lag: SourceLag, primaryTip: TipDocument | null, replicaTip: TipDocument | null): void {
  lag.replicaCommitTime = replicaTip ? BigInt(replicaTip.lastCommitTime) : null;
  if (!primaryTip) lag.lagSeconds = 0;
  else if (!replicaTip) lag.lagSeconds = null;
  else
    lag.lagSeconds = Math.max(
      0,
      Number(BigInt(primaryTip.lastCommitTime) - BigInt(replicaTip.lastCommitTime)) / 1e6,
    );
}
