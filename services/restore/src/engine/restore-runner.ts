import { createHash, randomUUID } from 'node:crypto';
import {
  formatLsn,
  formatTimestampMicros,
  isTidemarkError,
  type ObjectStore,
  TidemarkError,
  toTidemarkError,
} from '@tidemark/shared';
import type { EngineLogger } from './engine-logger.js';
import { JobStore, type StoredRestoreJob } from './job-store.js';
import type { JournalCatalog } from './journal-catalog.js';
import {
  executeRestore,
  planFromCatalog,
  type RestoreExecutor,
  type RestoreTuning,
} from './restore-executor.js';
import {
  INITIAL_PROGRESS,
  isTerminal,
  type RestoreJobView,
  type RestoreProgress,
  type RestoreRequest,
  type RestoreState,
  transition,
  withEstimate,
  withProgress,
} from './restore-job.js';
import { snapshotDataBytes } from './restore-planner.js';
import { type ValidRestoreRequest, validateRequest } from './restore-request.js';
import { formatRestoreTarget, type RestoreTarget, type RestoreTargetInput } from './restore-target.js';
import { checkTargetInWindow } from './restore-window.js';
import type { TargetLocation } from './target-database.js';

/**
 * Accepts restore requests, runs up to `maxConcurrent` at once (the others wait, queued,
 * with their position in the queue), and keeps every job's state in `stateDir`. `submit`
 * validates against the catalog (unknown source, target outside the window, unknown
 * restore point, malformed request) so the API can answer 4xx before anything is queued.
 *
 * - Idempotency: `submitIdempotent` with a client's key answers the job created with that
 *   key when the request is the same (a SHA-256 of source, target and the target URL
 *   without its password), and CONFLICT when it is not. The key and the hash are kept in
 *   the job's file, so this holds across restarts.
 * - Dry run: `plan` answers what a restore would read and roughly how long it would take,
 *   creating nothing.
 * - Cancel: a queued job never runs; a running one is aborted and its target cleaned
 *   (restore-executor.ts); `cancel` waits for that up to `cancelWaitMs`.
 * - Watching: `watch` calls back with the job's view on every change.
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
  /** the restore rate a dry run's estimate assumes, in bytes per second (default 16 MiB/s) */
  readonly estimateBytesPerSecond?: number;
  /** how long `cancel` waits for a running restore to stop and clean up (default 10 s) */
  readonly cancelWaitMs?: number;
}

/** What POST /v1/restores?dryRun=true answers: the plan, and nothing created. */
export interface RestorePlanView {
  readonly dryRun: true;
  readonly source: string;
  readonly target: RestoreTargetInput;
  readonly into: { readonly url: string; readonly database: string };
  readonly snapshotLsn: string;
  readonly snapshotTime: string;
  readonly snapshotTables: number;
  readonly snapshotBytes: number;
  /** journal segments to read */
  readonly segments: number;
  readonly segmentBytes: number;
  readonly firstSegment: string | null;
  readonly lastSegment: string | null;
  readonly totalBytes: number;
  /** where the replay stops: a commit time or LSN bound (for an xid target: the tip) */
  readonly stopRule: { readonly time: string } | { readonly lsn: string };
  readonly transaction?: { readonly xid: number; readonly inclusive: boolean };
  readonly restorePoint?: {
    readonly name: string;
    readonly lsn: string;
    readonly time: string;
    readonly xid: number;
  };
  /** totalBytes at `bytesPerSecond` */
  readonly estimatedSeconds: number;
  readonly bytesPerSecond: number;
  readonly notes: readonly string[];
}

interface Pending {
  readonly target: RestoreTarget;
  readonly into: TargetLocation;
}

interface KeyEntry {
  readonly requestSha256: string;
  readonly job: Promise<RestoreJobView>;
}

const PROGRESS_PERSIST_MS = 1000;
const DEFAULT_ESTIMATE_BYTES_PER_SECOND = 16 * 1024 * 1024;
const CANCEL_WAIT_MS = 10_000;
/** printable ASCII without spaces, as idempotency keys usually are (UUIDs, ULIDs, hashes) */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export class RestoreRunner {
  private readonly jobs = new Map<string, RestoreJobView>();
  private readonly pending = new Map<string, Pending>();
  private readonly running = new Map<
    string,
    { abort: AbortController; done: Promise<void>; lastSaved: number }
  >();
  private readonly keys = new Map<string, KeyEntry>();
  private readonly requestHashes = new Map<string, string>();
  private readonly watchers = new Map<string, Set<(job: RestoreJobView) => void>>();
  private readonly files: JobStore;
  private readonly execute: RestoreExecutor;
  private closed: boolean = false;

  constructor(private readonly opts: RestoreRunnerOptions) {
    this.files = new JobStore(opts.stateDir, opts.logger);
    this.execute = opts.execute ?? executeRestore;
    for (const stored of this.files.loadAll()) {
      const { requestSha256, ...job } = stored;
      if (requestSha256 !== undefined) this.requestHashes.set(job.id, requestSha256);
      if (job.idempotencyKey !== undefined && requestSha256 !== undefined)
        this.keys.set(job.idempotencyKey, { requestSha256, job: Promise.resolve(job) });
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
    return this.create(validateRequest(req));
  }

  /**
   * Like submit, under the client's idempotency key: the first request with a key creates
   * the restore, a repeated one with the same request answers that restore (`replayed`),
   * one with a different request is a CONFLICT. A request that fails validation does not
   * use up its key.
   */
  async submitIdempotent(
    req: RestoreRequest,
    idempotencyKey: string,
  ): Promise<{ job: RestoreJobView; replayed: boolean }> {
    if (!IDEMPOTENCY_KEY.test(idempotencyKey))
      throw new TidemarkError(
        'BAD_REQUEST',
        'the Idempotency-Key header must be 1 to 255 printable ASCII characters without spaces (a UUID, for example)',
        { details: { field: 'Idempotency-Key' } },
      );
    const valid = validateRequest(req);
    const requestSha256 = fingerprint(valid);
    const seen = this.keys.get(idempotencyKey);
    if (seen) {
      const job = await seen.job;
      if (seen.requestSha256 !== requestSha256)
        throw new TidemarkError(
          'CONFLICT',
          `the Idempotency-Key was already used for restore ${job.id} with a different request; use a new key for a new restore`,
          { details: { id: job.id } },
        );
      return { job: this.get(job.id), replayed: true };
    }
    const created = this.create(valid, { key: idempotencyKey, requestSha256 });
    this.keys.set(idempotencyKey, { requestSha256, job: created });
    try {
      return { job: await created, replayed: false };
    } catch (err) {
      this.keys.delete(idempotencyKey);
      throw err;
    }
  }

  /** What a restore of `req` would do, without doing anything: no job, no database. */
  async plan(req: RestoreRequest): Promise<RestorePlanView> {
    const { source, target, into } = validateRequest(req);
    const plan = await planFromCatalog(this.opts.catalog, source, target);
    const rate = this.opts.estimateBytesPerSecond ?? DEFAULT_ESTIMATE_BYTES_PER_SECOND;
    const snapshotBytes = snapshotDataBytes(plan);
    const segmentBytes = plan.totalBytes - snapshotBytes;
    const notes: string[] = [];
    if (plan.transactionStop)
      notes.push(
        `transaction ${plan.transactionStop.xid} is looked for while replaying (records carry their xid, the segment index does not): the plan reads the journal up to the tip, and the restore fails, leaving nothing behind, if the transaction is not there`,
      );
    if (plan.segmentSizes.some((s) => s === 0) && plan.segmentKeys.length > 0)
      notes.push('the store did not give the size of every segment: totalBytes is a lower bound');
    const rp = plan.restorePoint;
    return {
      dryRun: true,
      source,
      target: formatRestoreTarget(target),
      into: { url: into.display, database: into.database },
      snapshotLsn: formatLsn(plan.snapshotLsn),
      snapshotTime: formatTimestampMicros(BigInt(plan.snapshot.snapshotTime)),
      snapshotTables: plan.snapshot.tables.filter((t) => t.dataKey !== null).length,
      snapshotBytes,
      segments: plan.segmentKeys.length,
      segmentBytes,
      firstSegment: plan.segmentKeys[0] ?? null,
      lastSegment: plan.segmentKeys[plan.segmentKeys.length - 1] ?? null,
      totalBytes: plan.totalBytes,
      stopRule:
        plan.stopRule.kind === 'time'
          ? { time: formatTimestampMicros(plan.stopRule.micros) }
          : { lsn: formatLsn(plan.stopRule.lsn) },
      ...(plan.transactionStop ? { transaction: { ...plan.transactionStop } } : {}),
      ...(rp
        ? {
            restorePoint: {
              name: rp.name,
              lsn: formatLsn(rp.commitLsn),
              time: formatTimestampMicros(rp.commitTime),
              xid: rp.xid,
            },
          }
        : {}),
      estimatedSeconds: Math.ceil(plan.totalBytes / rate),
      bytesPerSecond: rate,
      notes,
    };
  }

  get(id: string): RestoreJobView {
    return this.view(this.raw(id));
  }

  /** Newest first. */
  list(): RestoreJobView[] {
    return [...this.jobs.values()].reverse().map((j) => this.view(j));
  }

  /**
   * Calls `listener` with the job's view on every change (state, progress, queue
   * position) until the returned function is called. Throws UNKNOWN_RESTORE.
   */
  watch(id: string, listener: (job: RestoreJobView) => void): () => void {
    this.raw(id);
    let set = this.watchers.get(id);
    if (!set) {
      set = new Set();
      this.watchers.set(id, set);
    }
    set.add(listener);
    return () => {
      const s = this.watchers.get(id);
      s?.delete(listener);
      if (s?.size === 0) this.watchers.delete(id);
    };
  }

  /**
   * A queued job is cancelled at once and never runs. A running one is aborted; its
   * executor removes what it restored and it ends `cancelled`. Resolves with the job's
   * view once it is terminal, or after `cancelWaitMs` with the view of the job still
   * stopping (phase `cancelling`). CONFLICT for a job that already ended.
   */
  async cancel(id: string): Promise<RestoreJobView> {
    const job = this.raw(id);
    if (isTerminal(job.state)) {
      throw new TidemarkError('CONFLICT', `restore ${id} already ${job.state}; there is nothing to cancel`, {
        details: { id, state: job.state },
      });
    }
    const run = this.running.get(id);
    if (run) {
      if (!run.abort.signal.aborted) {
        this.opts.logger.info({ restore: id }, 'restore cancel requested');
        run.abort.abort(new TidemarkError('CANCELLED', `restore ${id} was cancelled`, { details: { id } }));
        this.progress(id, { phase: 'cancelling' });
      }
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.opts.cancelWaitMs ?? CANCEL_WAIT_MS);
      });
      await Promise.race([run.done, waited]);
      clearTimeout(timer);
      return this.get(id);
    }
    this.pending.delete(id);
    this.set(
      transition(job, 'cancelled', new Date(), {
        code: 'CANCELLED',
        message: `restore ${id} was cancelled before it started; nothing was written to the target`,
        details: { id },
      }),
    );
    this.opts.logger.info({ restore: id }, 'queued restore cancelled');
    this.notifyQueued();
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

  private async create(
    valid: ValidRestoreRequest,
    idempotency?: { key: string; requestSha256: string },
  ): Promise<RestoreJobView> {
    if (this.closed) throw new TidemarkError('CONFLICT', 'the restore service is shutting down');
    const { source, target, into } = valid;
    const state = await this.opts.catalog.getSourceState(source);
    checkTargetInWindow(source, state.window, target);
    if (target.kind === 'restorePoint') await this.opts.catalog.findRestorePoint(source, target.name);
    if (this.closed) throw new TidemarkError('CONFLICT', 'the restore service is shutting down');
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
      ...(idempotency ? { idempotencyKey: idempotency.key } : {}),
      createdAt: new Date().toISOString(),
    };
    if (idempotency) this.requestHashes.set(job.id, idempotency.requestSha256);
    this.pending.set(job.id, { target, into });
    this.set(job);
    this.opts.logger.info(
      { restore: job.id, source, target: job.target, into: into.display },
      'restore queued',
    );
    this.pump();
    return this.get(job.id);
  }

  private raw(id: string): RestoreJobView {
    const job = this.jobs.get(id);
    if (!job)
      throw new TidemarkError('UNKNOWN_RESTORE', `no restore with id ${JSON.stringify(id)}`, {
        details: { id },
      });
    return job;
  }

  /** The job as clients see it: with its queue position while queued, its ETA while running. */
  private view(job: RestoreJobView): RestoreJobView {
    if (job.state === 'queued') {
      let position = 0;
      for (const id of this.pending.keys()) {
        if (this.jobs.get(id)?.state === 'queued') position++;
        if (id === job.id) return { ...job, queuePosition: position };
      }
      return job;
    }
    return withEstimate(job, new Date());
  }

  private pump(): void {
    if (this.closed) return;
    let started = false;
    for (const [id, p] of this.pending) {
      if (this.running.size >= this.opts.maxConcurrent) break;
      if (this.running.has(id)) continue;
      const job = this.jobs.get(id);
      if (job?.state !== 'queued') continue;
      const abort = new AbortController();
      const entry = { abort, done: Promise.resolve(), lastSaved: 0 };
      this.running.set(id, entry);
      entry.done = this.run(id, p, abort.signal);
      started = true;
    }
    if (started) this.notifyQueued();
  }

  private async run(id: string, p: Pending, signal: AbortSignal): Promise<void> {
    this.move(id, 'running');
    const logger = this.opts.logger;
    try {
      const outcome = await this.execute({
        id,
        source: this.raw(id).source,
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
      // the executor's own error says more (what it cleaned up) when it is of the abort's kind
      const abortCode = signal.aborted ? toTidemarkError(signal.reason, 'RESTORE_FAILED').code : undefined;
      const reason: unknown =
        abortCode === undefined || isTidemarkError(err, abortCode) ? err : signal.reason;
      const error = toTidemarkError(reason, 'RESTORE_FAILED');
      const cancelled = error.code === 'CANCELLED';
      logger[cancelled ? 'info' : 'error'](
        { restore: id, err: error },
        cancelled ? 'restore cancelled' : 'restore failed',
      );
      this.move(id, cancelled ? 'cancelled' : 'failed', {
        code: error.code,
        message: error.message,
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
    this.set(transition(this.raw(id), to, new Date(), error));
  }

  private progress(id: string, patch: Partial<RestoreProgress>): void {
    const job = withProgress(this.raw(id), patch);
    this.jobs.set(id, job);
    const run = this.running.get(id);
    const every = this.opts.progressPersistMs ?? PROGRESS_PERSIST_MS;
    // phase changes are written at once, counters at most every `every` ms
    if (!run || patch.phase !== undefined || Date.now() - run.lastSaved >= every) {
      if (run) run.lastSaved = Date.now();
      void this.files.save(this.stored(job));
    }
    this.notify(job);
  }

  private set(job: RestoreJobView): void {
    this.jobs.set(job.id, job);
    void this.files.save(this.stored(job));
    this.notify(job);
  }

  private stored(job: RestoreJobView): StoredRestoreJob {
    const requestSha256 = this.requestHashes.get(job.id);
    return requestSha256 === undefined ? job : { ...job, requestSha256 };
  }

  private notify(job: RestoreJobView): void {
    const listeners = this.watchers.get(job.id);
    if (!listeners || listeners.size === 0) return;
    const view = this.view(job);
    for (const listener of [...listeners]) {
      try {
        listener(view);
      } catch (err) {
        this.opts.logger.warn({ restore: job.id, err }, 'a restore watcher failed');
      }
    }
  }

  /** queue positions moved */
  private notifyQueued(): void {
    for (const id of this.pending.keys()) {
      const job = this.jobs.get(id);
      if (job?.state === 'queued') this.notify(job);
    }
  }
}

/**
 * What makes two requests the same restore: source, target (normalized: the same instant
 * written two ways is the same target) and where to, without the password, which is
 * never stored, not even hashed.
 */
function fingerprint(valid: ValidRestoreRequest): string {
  const canonical = JSON.stringify({
    source: valid.source,
    target: formatRestoreTarget(valid.target),
    into: valid.into.display,
  });
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

function shutdownError(when: string) {
  return {
    code: 'RESTORE_FAILED',
    message: `the restore service stopped ${when}; submit the restore again (into a new database)`,
    details: {},
  };
}
