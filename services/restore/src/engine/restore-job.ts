import { TidemarkError } from '@tidemark/shared';
import type { RestoreTargetInput } from './restore-target.js';

/**
 * A restore job as the API shows it, and its lifecycle as an explicit state machine:
 *
 *   queued ──> running ──> succeeded | failed | cancelled
 *      └──> cancelled | failed   (cancelled before it started; or, after a restart, its target URL
 *                                 could not be read back: restore-secrets.ts)
 *
 * A restart keeps queued jobs queued and running ones running: they resume (restore-resume.ts).
 *
 * Terminal states never change. Pure.
 */
export type RestoreState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type RestorePhase =
  | 'queued'
  | 'planning'
  | 'loading-snapshot'
  | 'replaying'
  | 'creating-indexes'
  | 'finishing'
  | 'cancelling'
  | 'done';

export interface RestoreRequest {
  readonly source: string;
  /** a replica region to read instead of the primary store */
  readonly from?: string;
  readonly target: RestoreTargetInput;
  readonly into: { readonly url: string; readonly schema?: string };
  /** restore only these tables (`schema.table`); with into.schema, into that schema of an existing database */
  readonly tables?: readonly string[];
}

export interface RestoreProgress {
  readonly phase: RestorePhase;
  readonly tablesLoaded: number;
  readonly tablesTotal: number;
  readonly transactionsApplied: number;
  readonly changesApplied: number;
  readonly segmentsRead: number;
  readonly segmentsTotal: number;
  /**
   * transactions the replay will apply: exact once the journal has been read up to where
   * the replay stops (`transactionsTotalExact`), an extrapolation from the segments read
   * so far before that; absent until the first segment was read
   */
  readonly transactionsTotal?: number;
  readonly transactionsTotalExact?: boolean;
  /** snapshot table data loaded plus journal bytes replayed */
  readonly bytesDone: number;
  /** snapshot table data plus the planned segments (known from the plan) */
  readonly bytesTotal: number;
  /** commit LSN (`X/Y`) of the last applied transaction, or the snapshot's LSN */
  readonly restoredLsn?: string;
  /** commit time (ISO µs) of the last applied transaction, or the snapshot's time */
  readonly restoredTime?: string;
  /** bytes per second since the restore started */
  readonly bytesPerSecond?: number;
  /** seconds left at the observed rate */
  readonly etaSeconds?: number;
  /** snapshots that failed verification and were passed over for an older one (snapshot-choice.ts) */
  readonly snapshotsSkipped?: readonly string[];
}

export interface RestoreJobError {
  readonly code: string;
  readonly message: string;
  readonly details: Record<string, unknown>;
}

export interface RestoreJobView {
  readonly id: string;
  readonly source: string;
  readonly target: RestoreTargetInput;
  /** where it restores to; the URL's password is never kept */
  readonly into: { readonly url: string; readonly database: string; readonly schema?: string };
  /** a table restore: the tables listed (`schema.table`); absent: the whole source */
  readonly tables?: readonly string[];
  readonly state: RestoreState;
  readonly progress: RestoreProgress;
  readonly error?: RestoreJobError;
  /** while queued: 1 for the next to start */
  readonly queuePosition?: number;
  /** the Idempotency-Key the restore was created with */
  readonly idempotencyKey?: string;
  /** the replica region the restore reads (absent: the primary store) */
  readonly from?: string;
  /** times the restore was started: 2 and more after the service restarted while it ran */
  readonly attempts?: number;
  /**
   * after a restart: the commit LSN the replay resumed after (the target held everything up
   * to it), or `start` when the restore had to begin again (see restore-resume.ts)
   */
  readonly resumedFrom?: string;
  /** ISO-8601 */
  readonly createdAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
}

const NEXT: Readonly<Record<RestoreState, readonly RestoreState[]>> = {
  queued: ['running', 'cancelled', 'failed'],
  running: ['succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function isTerminal(state: RestoreState): boolean {
  return NEXT[state].length === 0;
}

export function canTransition(from: RestoreState, to: RestoreState): boolean {
  return NEXT[from].includes(to);
}

export const INITIAL_PROGRESS: RestoreProgress = {
  phase: 'queued',
  tablesLoaded: 0,
  tablesTotal: 0,
  transactionsApplied: 0,
  changesApplied: 0,
  segmentsRead: 0,
  segmentsTotal: 0,
  bytesDone: 0,
  bytesTotal: 0,
};

/** The job in its new state; throws CONFLICT for a transition the lifecycle does not have. */
export function transition(
  job: RestoreJobView,
  to: RestoreState,
  at: Date,
  error?: RestoreJobError,
): RestoreJobView {
  if (!canTransition(job.state, to)) {
    throw new TidemarkError('CONFLICT', `restore ${job.id} is ${job.state} and cannot become ${to}`, {
      details: { id: job.id, state: job.state, to },
    });
  }
  const now = at.toISOString();
  const { queuePosition: _position, ...rest } = job;
  const next: RestoreJobView = {
    ...rest,
    state: to,
    ...(to === 'running' ? { startedAt: now } : {}),
    ...(isTerminal(to) ? { finishedAt: now } : {}),
    ...(error ? { error } : {}),
  };
  if (to === 'succeeded') {
    const { etaSeconds: _eta, ...progress } = next.progress;
    return { ...next, progress: { ...progress, phase: 'done', bytesDone: progress.bytesTotal } };
  }
  if (isTerminal(to)) {
    const { etaSeconds: _eta, ...progress } = next.progress;
    return { ...next, progress };
  }
  return next;
}

export function withProgress(job: RestoreJobView, patch: Partial<RestoreProgress>): RestoreJobView {
  if (isTerminal(job.state)) return job;
  return { ...job, progress: { ...job.progress, ...patch } };
}

/**
 * The job with its observed rate and the time left at that rate (bytes done since it
 * started, over the bytes of the plan). A running job only, once something was done.
 */
export function withEstimate(job: RestoreJobView, now: Date): RestoreJobView {
  if (job.state !== 'running' || job.startedAt === undefined) return job;
  const p = job.progress;
  const elapsed = (now.getTime() - Date.parse(job.startedAt)) / 1000;
  if (!(elapsed > 0) || p.bytesDone <= 0) return job;
  const rate = p.bytesDone / elapsed;
  const left = Math.max(0, p.bytesTotal - p.bytesDone);
  return {
    ...job,
    progress: { ...p, bytesPerSecond: Math.round(rate), etaSeconds: Math.ceil(left / rate) },
  };
}
