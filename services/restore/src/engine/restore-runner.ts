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
import { RestoreLeases, withLease } from './journal-leases.js';
import { scopeRestorePlan } from './late-tables.js';
import type { RegionCatalogs } from './region-catalogs.js';
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
import { checkpointOf, type RestoreCheckpoint, type ResumeFrom, resolveResume } from './restore-resume.js';
import { formatQualifiedName, formatRestoreScope, type RestoreScope } from './restore-scope.js';
import { RestoreSecrets } from './restore-secrets.js';
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
 * Restarts (restore-resume.ts): a job that was queued when the service stopped (or
 * died) is queued again at the next start; one that was running (a table restore too)
 * resumes — from the
 * progress row in the target when its snapshot was loaded, from the beginning (after
 * cleaning the target) when it was not. The target URL with its password is kept for that
 * in restore-secrets.ts (encrypted with the master key when one is configured), never in
 * the job file, and deleted when the job ends.
 */
export interface RestoreRunnerOptions {
  readonly store: ObjectStore;
  readonly catalog: JournalCatalog;
  /** replica regions a restore can read instead (`from`); without it only the primary */
  readonly regions?: RegionCatalogs;
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
  /** leases that keep the garbage collector off what a running restore reads (default: 60 s, renewed); not with `execute` */
  readonly leases?: RestoreLeases;
}

/** What POST /v1/restores?dryRun=true answers: the plan, and nothing created. */
export interface RestorePlanView {
  readonly dryRun: true;
  readonly source: string;
  /** the replica region the restore would read */
  readonly from?: string;
  readonly target: RestoreTargetInput;
  readonly into: { readonly url: string; readonly database: string; readonly schema?: string };
  /** a table restore: the tables as listed, and every table that will be left (partitions included) */
  readonly tables?: readonly string[];
  readonly restoredTables?: readonly string[];
  readonly snapshotLsn: string;
  /** base (taken from the source) or compacted (built from the journal) */
  readonly snapshotKind: 'base' | 'compacted';
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
  /** a table restore (restore-scope.ts) */
  readonly scope?: RestoreScope | null;
  /** the replica region it reads, absent for the primary */
  readonly from?: string;
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
  private readonly secrets: RestoreSecrets;
  private readonly checkpoints = new Map<string, RestoreCheckpoint>();
  /** jobs found running after a restart, to resume rather than start */
  private readonly interrupted = new Set<string>();
  private readonly execute: RestoreExecutor;
  private closed: boolean = false;
  /** resolves once the jobs found at start are queued or resumed again */
  readonly recovered: Promise<void>;

  constructor(private readonly opts: RestoreRunnerOptions) {
    this.files = new JobStore(opts.stateDir, opts.logger);
    this.secrets = new RestoreSecrets(opts.stateDir, opts.catalog.keys);
    this.execute = opts.execute ?? withLease(executeRestore, opts.leases ?? new RestoreLeases(opts.logger));
    const unfinished: RestoreJobView[] = [];
    for (const stored of this.files.loadAll()) {
      const { requestSha256, checkpoint, ...job } = stored;
      if (requestSha256 !== undefined) this.requestHashes.set(job.id, requestSha256);
      if (job.idempotencyKey !== undefined && requestSha256 !== undefined)
        this.keys.set(job.idempotencyKey, { requestSha256, job: Promise.resolve(job) });
      if (checkpoint !== undefined && !isTerminal(job.state)) this.checkpoints.set(job.id, checkpoint);
      this.jobs.set(job.id, job);
      if (!isTerminal(job.state)) unfinished.push(job);
    }
    this.recovered = this.recover(unfinished);
  }

  /**
   * Jobs that were queued or running when the service stopped: queued ones wait in the
   * queue again (in their old order), running ones resume first. Without their target URL
   * (the secret is gone or no longer decrypts) they fail saying so.
   */
  private async recover(unfinished: readonly RestoreJobView[]): Promise<void> {
    const resumed: [string, Pending][] = [];
    const queued: [string, Pending][] = [];
    for (const { id } of unfinished) {
      const job = this.raw(id);
      if (isTerminal(job.state)) continue;
      const url = await this.secrets.load(job.id);
      let p: Pending | undefined;
      try {
        if (url !== undefined) {
          const valid = validateRequest({
            source: job.source,
            target: job.target,
            into: { url, ...(job.into.schema ? { schema: job.into.schema } : {}) },
            ...(job.tables ? { tables: job.tables } : {}),
          });
          p = {
            target: valid.target,
            into: valid.into,
            scope: valid.scope,
            ...(job.from ? { from: job.from } : {}),
          };
        }
      } catch (err) {
        this.opts.logger.warn({ restore: job.id, err }, 'stored restore request no longer parses');
      }
      if (!p) {
        const message = `the restore service restarted and the target URL of this restore could not be read back (${this.secrets.encrypted ? 'its master key is no longer configured' : 'its secret file is missing'}); submit the restore again`;
        this.set(transition(job, 'failed', new Date(), { code: 'RESTORE_FAILED', message, details: {} }));
        continue;
      }
      const checkpoint = this.checkpoints.get(job.id);
      if (job.state === 'running' && p.scope?.schema && checkpoint && !checkpoint.intoSchema) {
        // written by a version that did not keep the schema: a clean-up could not tell what is the restore's
        const where = `schema ${p.scope.schema} of database ${p.into.database}`;
        const message = `the restore service stopped while this table restore was running, and its checkpoint does not name its schema (it was written by an older version): drop what it restored in ${where} and submit it again`;
        this.set(transition(job, 'failed', new Date(), { code: 'RESTORE_FAILED', message, details: {} }));
        continue;
      }
      if (job.state === 'running') {
        this.interrupted.add(job.id);
        resumed.push([job.id, p]);
      } else queued.push([job.id, p]);
    }
    for (const [id, p] of [...resumed, ...queued]) this.pending.set(id, p);
    for (const [id, p] of resumed) this.start(id, p);
    this.pump();
  }

  async submit(req: RestoreRequest): Promise<RestoreJobView> {
    return this.create(validateRequest(req), undefined, regionOf(req));
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
    const from = regionOf(req);
    const requestSha256 = fingerprint(valid, from);
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
    const created = this.create(valid, { key: idempotencyKey, requestSha256 }, from);
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
    const { source, target, into, scope } = validateRequest(req);
    const from = regionOf(req);
    const { plan, selection } = await scopeRestorePlan(
      this.region(from).store,
      await planFromCatalog(this.region(from).catalog, source, target),
      scope,
    );
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
    if (selection && selection.scratchRoots.length > 0)
      notes.push(
        'a partition listed without its parent is restored with its whole partition tree, which is dropped at the end (the journal routes changes through the root): snapshotBytes counts the whole tree',
      );
    if (selection && selection.fromTableSnapshots.length > 0)
      notes.push(
        `${selection.fromTableSnapshots.map(formatQualifiedName).join(', ')}: not in the snapshot, built at the marker of a per-table snapshot in the journal; the restore fails (UNKNOWN_TABLE, leaving nothing behind) if that marker comes after the target`,
      );
    const rp = plan.restorePoint;
    return {
      dryRun: true,
      source,
      ...(from ? { from } : {}),
      target: formatRestoreTarget(target),
      into: {
        url: into.display,
        database: into.database,
        ...(scope?.schema ? { schema: scope.schema } : {}),
      },
      ...(scope && selection
        ? {
            tables: formatRestoreScope(scope).tables,
            restoredTables: selection.kept.map(formatQualifiedName),
          }
        : {}),
      snapshotLsn: formatLsn(plan.snapshotLsn),
      snapshotKind: plan.snapshot.kind ?? 'base',
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
    this.raw(id);
    // a job found running at start is either resumed or failed by then: cancel that
    await this.recovered;
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
    await this.secrets.remove(id);
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

  /**
   * Stops accepting work and stops running restores, writes all state. Queued restores stay
   * queued and running ones stay running on disk: the next start resumes them.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.recovered;
    for (const run of this.running.values()) {
      run.abort.abort(
        new TidemarkError('RESTORE_FAILED', 'the restore service stopped while this restore was running'),
      );
    }
    await Promise.all([...this.running.values()].map((r) => r.done));
    await this.files.flush();
  }

  private async create(
    valid: ValidRestoreRequest,
    idempotency?: { key: string; requestSha256: string },
    from?: string,
  ): Promise<RestoreJobView> {
    if (this.closed) throw new TidemarkError('CONFLICT', 'the restore service is shutting down');
    const { source, target, into, scope } = valid;
    const { catalog, store } = this.region(from);
    const state = await catalog.getSourceState(source);
    checkTargetInWindow(source, state.window, target);
    if (target.kind === 'restorePoint') await catalog.findRestorePoint(source, target.name);
    // UNKNOWN_TABLE (with near matches) and name clashes answer 400 before anything is queued
    if (scope) await scopeRestorePlan(store, await planFromCatalog(catalog, source, target), scope);
    if (this.closed) throw new TidemarkError('CONFLICT', 'the restore service is shutting down');
    // two restores into one database would fail or, worse, mix
    for (const [id, p] of this.pending) {
      const otherSchemas = !!p.scope?.schema && !!scope?.schema && p.scope.schema !== scope.schema;
      if (
        p.into.host === into.host &&
        p.into.port === into.port &&
        p.into.database === into.database &&
        !otherSchemas
      )
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
      into: {
        url: into.display,
        database: into.database,
        ...(scope?.schema ? { schema: scope.schema } : {}),
      },
      ...(scope ? { tables: formatRestoreScope(scope).tables } : {}),
      state: 'queued',
      progress: INITIAL_PROGRESS,
      ...(idempotency ? { idempotencyKey: idempotency.key } : {}),
      ...(from ? { from } : {}),
      createdAt: new Date().toISOString(),
    };
    if (idempotency) this.requestHashes.set(job.id, idempotency.requestSha256);
    // durable before the job exists: a job that survives a restart must be able to run
    await this.secrets.save(job.id, into.url);
    this.pending.set(job.id, { target, into, scope, ...(from ? { from } : {}) });
    this.set(job);
    await this.files.save(this.stored(job));
    this.opts.logger.info(
      { restore: job.id, source, target: job.target, into: into.display },
      'restore queued',
    );
    this.pump();
    return this.get(job.id);
  }

  /** The store and catalog a restore reads: the primary, or the replica region `from`. */
  private region(from: string | undefined): { store: ObjectStore; catalog: JournalCatalog } {
    if (from === undefined) return { store: this.opts.store, catalog: this.opts.catalog };
    if (!this.opts.regions)
      throw new TidemarkError(
        'BAD_REQUEST',
        `from: unknown region ${JSON.stringify(from)}; no replica region is configured (TIDEMARK_REPLICAS)`,
        { details: { field: 'from', region: from, known: [] } },
      );
    return this.opts.regions.resolve(from);
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
      this.start(id, p);
      started = true;
    }
    if (started) this.notifyQueued();
  }

  private start(id: string, p: Pending): void {
    const abort = new AbortController();
    const entry = { abort, done: Promise.resolve(), lastSaved: 0 };
    this.running.set(id, entry);
    entry.done = this.run(id, p, abort.signal);
  }

  private async run(id: string, p: Pending, signal: AbortSignal): Promise<void> {
    const before = this.raw(id);
    if (before.state === 'queued') this.move(id, 'running');
    this.set({ ...this.raw(id), attempts: (before.attempts ?? 0) + 1 });
    const logger = this.opts.logger;
    try {
      let target = p.target;
      let resume: ResumeFrom | undefined;
      if (this.interrupted.delete(id)) {
        const resolved = await resolveResume({
          id,
          source: before.source,
          target: p.target,
          into: p.into,
          checkpoint: this.checkpoints.get(id),
          catalog: this.region(p.from).catalog,
          logger,
          scope: p.scope ?? null,
          planScoped: async (t) => {
            const { store, catalog } = this.region(p.from);
            return scopeRestorePlan(store, await planFromCatalog(catalog, before.source, t), p.scope);
          },
        });
        target = resolved.target;
        resume = resolved.resume;
        if (!resume) this.checkpoints.delete(id);
        this.set({ ...this.raw(id), resumedFrom: resolved.resumedFrom });
      }
      const pinned = this.checkpoints.get(id)?.pinnedLsn;
      const outcome = await this.execute({
        id,
        source: before.source,
        target,
        ...(p.scope ? { scope: p.scope } : {}),
        into: p.into,
        ...(resume ? { resume } : {}),
        onPrepared: async (prepared, plan) => {
          const latest =
            p.target.kind === 'latest' && plan.stopRule.kind === 'lsn' ? plan.stopRule.lsn : undefined;
          const checkpoint = checkpointOf(prepared, latest);
          this.checkpoints.set(id, pinned === undefined ? checkpoint : { ...checkpoint, pinnedLsn: pinned });
          await this.files.save(this.stored(this.raw(id)));
        },
        store: this.region(p.from).store,
        catalog: this.region(p.from).catalog,
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
      if (!cancelled && this.closed && signal.aborted) {
        // stopped by a shutdown: stays running on disk, and resumes at the next start
        logger.info({ restore: id }, 'restore interrupted by shutdown; it resumes at the next start');
        return;
      }
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
      if (isTerminal(this.raw(id).state)) {
        this.pending.delete(id);
        this.checkpoints.delete(id);
        await this.secrets.remove(id).catch((err: unknown) => {
          logger.warn({ restore: id, err }, 'could not remove the stored target URL');
        });
        await this.files.save(this.stored(this.raw(id)));
      }
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
    const checkpoint = this.checkpoints.get(job.id);
    return {
      ...job,
      ...(requestSha256 === undefined ? {} : { requestSha256 }),
      ...(checkpoint === undefined ? {} : { checkpoint }),
    };
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
function fingerprint(valid: ValidRestoreRequest, from?: string): string {
  const canonical = JSON.stringify({
    source: valid.source,
    ...(from ? { from } : {}),
    target: formatRestoreTarget(valid.target),
    into: valid.into.display,
    ...(valid.scope ? { scope: formatRestoreScope(valid.scope) } : {}),
  });
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/** The replica region a request names (`from`, checked by the API's schema), if any. */
function regionOf(req: unknown): string | undefined {
  const from = (req as { from?: unknown } | null)?.from;
  return typeof from === 'string' ? from : undefined;
}
