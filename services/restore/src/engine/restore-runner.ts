import { randomUUID } from 'node:crypto';
import { type ObjectStore, TidemarkError, toTidemarkError } from '@tidemark/shared';
import type { EngineLogger } from './engine-logger.js';
import { JobStore } from './job-store.js';
import type { JournalCatalog } from './journal-catalog.js';
import { executeRestore, type RestoreExecutor, type RestoreTuning } from './restore-executor.js';
import {
  INITIAL_PROGRESS,
  isTerminal,
  type RestoreJobView,
  type RestoreProgress,
  type RestoreRequest,
  type RestoreState,
  transition,
  withProgress,
} from './restore-job.js';
import { validateRequest } from './restore-request.js';
import { formatRestoreTarget, type RestoreTarget } from './restore-target.js';
import { checkTargetInWindow } from './restore-window.js';
import type { TargetLocation } from './target-database.js';

/**
 * Accepts restore requests, runs up to `maxConcurrent` at once, and keeps every job's
 * state in `stateDir`. `submit` validates synchronously against the catalog (unknown
 * source, target outside the window, malformed request) so the API can answer 4xx
 * before anything is queued.
 *
 * Passwords are held in memory only, never written: a job that was queued or running
 * when the service stopped is marked failed at the next start (resuming is future work;
 * the progress row in the target keeps it possible).
 */
export interface RestoreRunnerOptions {
  readonly store: ObjectStore;
  readonly catalog: JournalCatalog;
  readonly stateDir: string;
  readonly maxConcurrent: number;
  readonly logger: EngineLogger;
  readonly tuning?: RestoreTuning;
  /** replaces the real restore (tests of the lifecycle) */
  readonly execute?: RestoreExecutor;
  /** how often progress is written to the state file while running (default 1000 ms) */
  readonly progressPersistMs?: number;
}

interface Pending {
  readonly target: RestoreTarget;
  readonly into: TargetLocation;
}

const PROGRESS_PERSIST_MS = 1000;

export class RestoreRunner {
  private readonly jobs = new Map<string, RestoreJobView>();
  private readonly pending = new Map<string, Pending>();
  private readonly running = new Map<
    string,
    { abort: AbortController; done: Promise<void>; lastSaved: number }
  >();
  private readonly files: JobStore;
  private readonly execute: RestoreExecutor;
  private closed: boolean = false;

  constructor(private readonly opts: RestoreRunnerOptions) {
    this.files = new JobStore(opts.stateDir, opts.logger);
    this.execute = opts.execute ?? executeRestore;
    for (const job of this.files.loadAll()) {
      if (isTerminal(job.state)) {
        this.jobs.set(job.id, job);
        continue;
      }
      const message =
        job.state === 'running'
          ? 'the restore service stopped while this restore was running; the target database holds a partial restore: drop it and submit the restore again'
          : 'the restore service stopped before this restore started; submit it again';
      this.set(transition(job, 'failed', new Date(), { code: 'RESTORE_FAILED', message, details: {} }));
    }
  }

  async submit(req: RestoreRequest): Promise<RestoreJobView> {
    if (this.closed) throw new TidemarkError('CONFLICT', 'the restore service is shutting down');
    const { source, target, into } = validateRequest(req);
    const state = await this.opts.catalog.getSourceState(source);
    checkTargetInWindow(source, state.window, target);
    // two restores into one database would fail or, worse, mix
    for (const [id, p] of this.pending) {
      if (p.into.host === into.host && p.into.port === into.port && p.into.database === into.database)
        throw new TidemarkError(
          'CONFLICT',
          `restore ${id} is already writing into database ${into.database} on ${into.host}:${into.port}`,
          {
            details: { id },
          },
        );
    }
    const job: RestoreJobView = {
      id: `r_${randomUUID().replace(/-/g, '')}`,
      source,
      target: formatRestoreTarget(target),
      into: { url: into.display, database: into.database },
      state: 'queued',
      progress: INITIAL_PROGRESS,
      createdAt: new Date().toISOString(),
    };
    this.pending.set(job.id, { target, into });
    this.set(job);
    this.opts.logger.info(
      { restore: job.id, source, target: job.target, into: into.display },
      'restore queued',
    );
    this.pump();
    return job;
  }

  get(id: string): RestoreJobView {
    const job = this.jobs.get(id);
    if (!job)
      throw new TidemarkError('UNKNOWN_RESTORE', `no restore with id ${JSON.stringify(id)}`, {
        details: { id },
      });
    return job;
  }

  /** Newest first. */
  list(): RestoreJobView[] {
    return [...this.jobs.values()].reverse();
  }

  /** A queued job is cancelled at once; a running one stops at its next check and ends `cancelled`. */
  async cancel(id: string): Promise<RestoreJobView> {
    const job = this.get(id);
    if (isTerminal(job.state)) {
      throw new TidemarkError('CONFLICT', `restore ${id} already ${job.state}; there is nothing to cancel`, {
        details: { id, state: job.state },
      });
    }
    const run = this.running.get(id);
    if (run) {
      run.abort.abort(new TidemarkError('CANCELLED', `restore ${id} was cancelled`));
      await run.done;
      return this.get(id);
    }
    this.pending.delete(id);
    this.set(transition(job, 'cancelled', new Date()));
    await this.files.flush();
    return this.get(id);
  }

  /** Stops accepting work, stops running restores (they end failed), writes all state. */
  async close(): Promise<void> {
    this.closed = true;
    for (const id of [...this.pending.keys()]) {
      const job = this.jobs.get(id);
      if (job?.state === 'queued') {
        this.pending.delete(id);
        this.set(transition(job, 'failed', new Date(), shutdownError('before it started')));
      }
    }
    for (const run of this.running.values()) {
      run.abort.abort(new TidemarkError('RESTORE_FAILED', shutdownError('while it was running').message));
    }
    await Promise.all([...this.running.values()].map((r) => r.done));
    await this.files.flush();
  }

  private pump(): void {
    if (this.closed) return;
    for (const [id, p] of this.pending) {
      if (this.running.size >= this.opts.maxConcurrent) return;
      if (this.running.has(id)) continue;
      const job = this.jobs.get(id);
      if (job?.state !== 'queued') continue;
      const abort = new AbortController();
      const entry = { abort, done: Promise.resolve(), lastSaved: 0 };
      this.running.set(id, entry);
      entry.done = this.run(id, p, abort.signal);
    }
  }

  private async run(id: string, p: Pending, signal: AbortSignal): Promise<void> {
    this.move(id, 'running');
    const logger = this.opts.logger;
    try {
      const outcome = await this.execute({
        id,
        source: this.get(id).source,
        target: p.target,
        into: p.into,
        store: this.opts.store,
        catalog: this.opts.catalog,
        signal,
        logger,
        ...(this.opts.tuning ? { tuning: this.opts.tuning } : {}),
        onProgress: (patch) => this.progress(id, patch),
      });
      this.progress(id, { restoredLsn: outcome.restoredLsn, restoredTime: outcome.restoredTime });
      this.move(id, 'succeeded');
    } catch (err) {
      const reason: unknown = signal.aborted ? signal.reason : err;
      const error = toTidemarkError(reason, 'RESTORE_FAILED');
      const cancelled = error.code === 'CANCELLED';
      logger[cancelled ? 'info' : 'error'](
        { restore: id, err: error },
        cancelled ? 'restore cancelled' : 'restore failed',
      );
      this.move(id, cancelled ? 'cancelled' : 'failed', {
        code: error.code,
        message: cancelled
          ? `${error.message}; the target database holds a partial restore: drop it`
          : error.message,
        details: error.details,
      });
    } finally {
      this.running.delete(id);
      this.pending.delete(id);
      await this.files.flush();
      this.pump();
    }
  }

  private move(
    id: string,
    to: RestoreState,
    error?: { code: string; message: string; details: Record<string, unknown> },
  ) {
    this.set(transition(this.get(id), to, new Date(), error));
  }

  private progress(id: string, patch: Partial<RestoreProgress>): void {
    const job = withProgress(this.get(id), patch);
    this.jobs.set(id, job);
    const run = this.running.get(id);
    const every = this.opts.progressPersistMs ?? PROGRESS_PERSIST_MS;
    // phase changes are written at once, counters at most every `every` ms
    if (!run || patch.phase !== undefined || Date.now() - run.lastSaved >= every) {
      if (run) run.lastSaved = Date.now();
      void this.files.save(job);
    }
  }

  private set(job: RestoreJobView): void {
    this.jobs.set(job.id, job);
    void this.files.save(job);
  }
}

function shutdownError(when: string) {
  return {
    code: 'RESTORE_FAILED',
    message: `the restore service stopped ${when}; submit the restore again (into a new database)`,
    details: {},
  };
}
