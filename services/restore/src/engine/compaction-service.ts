import { randomUUID } from 'node:crypto';
import {
  type ObjectStore,
  parseLsn,
  type SnapshotTableSealing,
  TidemarkError,
  toTidemarkError,
} from '@tidemark/shared';
import type { EngineLogger } from './engine-logger.js';
import type { JournalCatalog } from './journal-catalog.js';
import { type CompactionResult, compactSnapshot } from './snapshot-compactor.js';

/**
 * Compaction jobs: on demand (POST /v1/sources/:source/snapshots, `tidemark snapshot`) and
 * on a schedule (TIDEMARK_COMPACTION_INTERVAL_MS). Jobs run one at a time in the order
 * asked (each one restores a whole database, so running them side by side would only
 * compete for the same server); asking again for a source that has a job queued or
 * running answers that job. Lifecycle: queued → running → succeeded | failed.
 * Job records live in memory (the newest 100): the snapshot a job made is in the store,
 * which is what matters across restarts.
 */
export type CompactionState = 'queued' | 'running' | 'succeeded' | 'failed';

export interface CompactionJobView {
  readonly id: string;
  readonly source: string;
  readonly state: CompactionState;
  readonly trigger: 'api' | 'schedule';
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly result: CompactionResult | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

export interface CompactionServiceOptions {
  readonly store: ObjectStore;
  readonly catalog: JournalCatalog;
  /** server scratch databases are created on; without it compaction is unavailable */
  readonly serverUrl?: string | undefined;
  readonly sealing: SnapshotTableSealing;
  readonly logger: EngineLogger;
  /** 0 or absent: no scheduled compaction */
  readonly intervalMs?: number;
}

const KEPT_JOBS = 100;

export class CompactionService {
  private readonly jobs = new Map<string, CompactionJobView>();
  private chain: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: CompactionServiceOptions) {}

  get available(): boolean {
    return this.opts.serverUrl !== undefined;
  }

  /** Queues a compaction of `source` (or answers the one already queued or running). */
  async start(source: string, trigger: 'api' | 'schedule' = 'api'): Promise<CompactionJobView> {
    await this.opts.catalog.requireSource(source);
    const serverUrl = this.opts.serverUrl;
    if (serverUrl === undefined)
      throw new TidemarkError(
        'COMPACTION_UNAVAILABLE',
        'this restore service has no PostgreSQL server to build compaction snapshots on: set TIDEMARK_COMPACTION_DATABASE_URL ' +
          '(a server where its user may create databases; `tidemark up` uses the source server by default)',
        { details: { source } },
      );
    if (this.closed) throw new TidemarkError('JOURNAL_NOT_READY', 'the restore service is shutting down');
    const active = [...this.jobs.values()].find(
      (j) => j.source === source && (j.state === 'queued' || j.state === 'running'),
    );
    if (active) return active;
    const id = `c_${randomUUID()}`;
    this.set({
      id,
      source,
      state: 'queued',
      trigger,
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      result: null,
      error: null,
    });
    this.chain = this.chain.then(() => this.run(id, serverUrl));
    return this.get(id);
  }

  /** Throws UNKNOWN_JOB. */
  get(id: string): CompactionJobView {
    const job = this.jobs.get(id);
    if (!job) throw new TidemarkError('UNKNOWN_JOB', `no compaction job with id ${JSON.stringify(id)}`);
    return job;
  }

  list(): CompactionJobView[] {
    return [...this.jobs.values()];
  }

  /** Waits for a job to end (tests and the CLI's in-process callers). */
  async settled(id: string): Promise<CompactionJobView> {
    this.get(id);
    await this.chain;
    return this.get(id);
  }

  /** Compacts, every `intervalMs`, each source whose journal went past its newest snapshot. */
  startSchedule(): void {
    const every = this.opts.intervalMs ?? 0;
    if (every <= 0 || !this.available || this.timer) return;
    this.timer = setInterval(() => {
      this.scheduledRound().catch((err: unknown) =>
        this.opts.logger.warn({ err }, 'scheduled compaction round failed'),
      );
    }, every);
    this.timer.unref();
  }

  /** Stops the schedule, cancels the running job (its scratch database is dropped) and waits. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.abort.abort(
      new TidemarkError('CANCELLED', 'compaction stopped: the restore service is shutting down'),
    );
    await this.chain;
  }

  private async scheduledRound(): Promise<void> {
    for (const source of await this.opts.catalog.listSourceNames()) {
      const state = await this.opts.catalog.getSourceState(source);
      const newest = state.window?.snapshots[state.window.snapshots.length - 1];
      if (!state.tip || !newest || parseLsn(newest.lsn) >= parseLsn(state.tip.lastLsn)) continue;
      await this.start(source, 'schedule');
    }
  }

  private async run(id: string, serverUrl: string): Promise<void> {
    const job = this.get(id);
    if (this.closed) {
      this.finish(id, { error: { code: 'CANCELLED', message: 'the restore service shut down first' } });
      return;
    }
    this.set({ ...job, state: 'running', startedAt: new Date().toISOString() });
    try {
      const result = await compactSnapshot({
        id,
        store: this.opts.store,
        catalog: this.opts.catalog,
        source: job.source,
        serverUrl,
        sealing: this.opts.sealing,
        logger: this.opts.logger,
        signal: this.abort.signal,
      });
      this.finish(id, { result });
    } catch (err) {
      const e = toTidemarkError(err, 'INTERNAL');
      this.opts.logger.error({ compaction: id, source: job.source, err }, `compaction failed: ${e.message}`);
      this.finish(id, { error: { code: e.code, message: e.message } });
    }
  }

  private finish(
    id: string,
    outcome: Pick<CompactionJobView, 'result'> | Pick<CompactionJobView, 'error'>,
  ): void {
    const job = this.get(id);
    this.set({
      ...job,
      ...outcome,
      state: 'error' in outcome ? 'failed' : 'succeeded',
      finishedAt: new Date().toISOString(),
    });
  }

  private set(job: CompactionJobView): void {
    this.jobs.set(job.id, job);
    while (this.jobs.size > KEPT_JOBS) {
      const oldest = [...this.jobs.values()].find((j) => j.state === 'succeeded' || j.state === 'failed');
      if (!oldest) break;
      this.jobs.delete(oldest.id);
    }
  }
}
