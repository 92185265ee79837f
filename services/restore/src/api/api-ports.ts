/**
 * What the HTTP layer needs from the rest of the restore service. The API depends on
 * these interfaces only; the engine (JournalCatalog, RestoreRunner, verifyJournal) is
 * wired to them in one place by whoever builds the process.
 *
 * Every method that can fail because of the caller's input throws a `TidemarkError`
 * with the code named in its comment; the API turns the code into the HTTP status
 * (`packages/shared/src/core/error-codes.ts`). Anything else becomes a 500.
 *
 * The types are deliberately loose where the API only passes data through (fields are
 * readonly, views may carry more fields than listed, `progress` is any object) so that
 * the engine's own types satisfy them as they are.
 */

/** Times are RFC 3339 with µs in UTC (`2026-11-23T10:41:07.123456Z`), LSNs `X/Y`. */
export interface SourceSummary {
  readonly name: string;
  /** null while the source has no base snapshot yet (nothing is restorable) */
  readonly earliestRestorableTime: string | null;
  readonly latestRestorableTime: string | null;
  readonly latestLsn: string | null;
  readonly snapshotLsn: string | null;
}

export interface SourcesPort {
  /** with `region`: as that replica region holds them (BAD_REQUEST for an unknown region) */
  listSources(options?: { readonly region?: string }): Promise<readonly SourceSummary[]>;
  /** throws UNKNOWN_SOURCE */
  getSource(name: string, options?: { readonly region?: string }): Promise<SourceSummary>;
}

export type RestoreTargetInput =
  | { readonly time: string }
  | { readonly lsn: string }
  | { readonly latest: true }
  | { readonly xid: number | string; readonly inclusive?: boolean }
  | { readonly restorePoint: string };

/** A request that passed the API's validation (`request-schemas.ts`). */
export interface RestoreRequest {
  readonly source: string;
  /** a replica region to read instead of the primary store */
  readonly from?: string;
  readonly target: RestoreTargetInput;
  readonly into: { readonly url: string; readonly schema?: string };
  /** restore only these tables (`schema.table`) */
  readonly tables?: readonly string[];
}

export type RestoreState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface RestoreJobView {
  readonly id: string;
  readonly source: string;
  readonly state: RestoreState;
  readonly progress: object;
  readonly error?: {
    readonly code: string;
    readonly message: string;
    readonly details?: Readonly<Record<string, unknown>>;
  };
  /** RFC 3339 */
  readonly createdAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly target: unknown;
  /** while queued: 1 for the next to start */
  readonly queuePosition?: number;
}

export interface RestoresPort {
  /**
   * Checks the request against the journal and queues the restore; resolves once the job
   * exists (not when it finishes). Throws UNKNOWN_SOURCE, TARGET_BEFORE_WINDOW,
   * TARGET_AFTER_WINDOW or BAD_REQUEST before anything is queued.
   */
  submit(req: RestoreRequest): Promise<RestoreJobView>;
  /**
   * submit under a client's Idempotency-Key: the same key with the same request answers
   * the restore created first (`replayed`), with a different request CONFLICT; keys
   * survive restarts. BAD_REQUEST for a malformed key.
   */
  submitIdempotent(
    req: RestoreRequest,
    idempotencyKey: string,
  ): Promise<{ readonly job: RestoreJobView; readonly replayed: boolean }>;
  /** The plan of a restore of `req`, creating nothing (dry run); throws as submit does. */
  plan(req: RestoreRequest): Promise<object>;
  /**
   * Cancels: a queued restore never runs, a running one is stopped and its target cleaned
   * up. Resolves with the view once terminal, or still running (stopping) after a while.
   * Throws UNKNOWN_RESTORE, and CONFLICT when the restore already ended.
   */
  cancel(id: string): Promise<RestoreJobView>;
  /** throws UNKNOWN_RESTORE */
  get(id: string): RestoreJobView;
  list(): readonly RestoreJobView[];
  /**
   * Calls `listener` with the job's view on every change until the returned function is
   * called. Throws UNKNOWN_RESTORE.
   */
  watch(id: string, listener: (job: RestoreJobView) => void): () => void;
}

export interface RestorePoint {
  readonly name: string;
  /** commit LSN of the transaction that carries it */
  readonly lsn: string;
  /** its commit time */
  readonly time: string;
}

export interface RestorePointsPort {
  /**
   * Writes a named restore point into the source database. Throws BAD_REQUEST,
   * UNKNOWN_SOURCE, CONFLICT (the name exists), SOURCE_NOT_READY (this service cannot
   * write into that source) or SOURCE_UNAVAILABLE.
   */
  create(
    source: string,
    name: string,
  ): Promise<{ readonly name: string; readonly lsn?: string; readonly createdAt: string }>;
  /** The restore points in the source's journal, in commit order; throws UNKNOWN_SOURCE. */
  list(source: string): Promise<readonly RestorePoint[]>;
}

export interface VerifyProblem {
  readonly key: string;
  readonly offset?: number;
  readonly kind: string;
  readonly message: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly segments: number;
  readonly records: number;
  readonly firstLsn: string | null;
  readonly lastLsn: string | null;
  readonly problems: readonly VerifyProblem[];
}

export interface VerifyPort {
  /** Reads and checks the whole journal of the source; throws UNKNOWN_SOURCE. */
  verify(source: string): Promise<VerifyReport>;
}

export interface ReadinessCheck {
  readonly ok: boolean;
  readonly detail?: string;
}

export interface HealthPort {
  /** false only when the process is broken and should be restarted */
  live(): boolean;
  ready(): { readonly ready: boolean; readonly checks: Readonly<Record<string, ReadinessCheck>> };
}

export type ApiRole = 'restore' | 'audit' | 'admin';

export interface ApiToken {
  readonly name: string;
  readonly role: ApiRole;
  readonly token: string;
}
