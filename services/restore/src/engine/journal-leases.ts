import {
  encodeLease,
  isTidemarkError,
  type JournalLease,
  type Lsn,
  leaseKey,
  leasesPrefix,
  type ObjectStore,
  parseLease,
  TidemarkError,
  toTidemarkError,
} from '@tidemark/shared';
import type { EngineLogger } from './engine-logger.js';
import type { RestoreExecutor } from './restore-executor.js';

/**
 * Leases of running restores (core/journal-lease.ts has the document and what the
 * collector makes of it). A restore acquires its lease before it plans, pinning the whole
 * journal; once planned it narrows it to its snapshot; it renews it every quarter of the
 * lease's life while it runs and deletes it when it ends. A crashed restore's lease simply
 * expires.
 */
export const DEFAULT_LEASE_TTL_MS = 60_000;

export type StoredLease = JournalLease | { readonly key: string; readonly unreadable: true };

export class RestoreLeases {
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly logger: EngineLogger,
    options: { readonly ttlMs?: number; readonly now?: () => number } = {},
  ) {
    this.ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  /**
   * Writes the lease (pinning everything) durably in `store`, the store the restore reads;
   * fails the restore when the store refuses it.
   */
  async acquire(store: ObjectStore, source: string, holder: string): Promise<HeldLease> {
    const lease = new HeldLease(store, this.logger, source, holder, this.ttlMs, this.now);
    try {
      await lease.write();
    } catch (err) {
      const e = toTidemarkError(err);
      throw new TidemarkError(
        e.code === 'CONFIG_INVALID' ? 'CONFIG_INVALID' : 'RESTORE_FAILED',
        `restore ${holder} could not write its lease ${leaseKey(source, holder)}, which keeps the garbage collector from deleting what it reads: ${e.message}. The restore service needs write and delete access to _leases/ in the journal's store`,
        { cause: err, details: { key: leaseKey(source, holder) } },
      );
    }
    lease.startRenewing();
    return lease;
  }
}

export class HeldLease {
  private snapshotLsn: Lsn | null = null;
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  /** writes one at a time, so a late renewal never overwrites a newer write or follows the delete */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ObjectStore,
    private readonly logger: EngineLogger,
    readonly source: string,
    readonly holder: string,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get key(): string {
    return leaseKey(this.source, this.holder);
  }

  /** From now on only the snapshot at `lsn` and what follows it are needed. */
  narrow(lsn: Lsn): Promise<void> {
    this.snapshotLsn = lsn;
    return this.write();
  }

  write(): Promise<void> {
    const next = this.queue.then(async () => {
      if (this.released) return;
      const now = this.now();
      await this.store.put(
        this.key,
        encodeLease({
          source: this.source,
          holder: this.holder,
          snapshotLsn: this.snapshotLsn,
          expiresAtMs: now + this.ttlMs,
          nowMs: now,
        }),
      );
    });
    this.queue = next.catch(() => {});
    return next;
  }

  startRenewing(): void {
    this.timer = setInterval(
      () => {
        this.write().catch((err: unknown) =>
          this.logger.warn(
            { restore: this.holder, key: this.key, err: toTidemarkError(err) },
            'restore lease renewal failed; retrying at the next interval',
          ),
        );
      },
      Math.max(10, Math.floor(this.ttlMs / 4)),
    );
    this.timer.unref();
  }

  /** Stops renewing and deletes the lease; never throws (an undeleted lease just expires). */
  async release(): Promise<void> {
    clearInterval(this.timer);
    this.released = true;
    await this.queue;
    await this.store
      .delete(this.key)
      .catch((err: unknown) =>
        this.logger.warn(
          { restore: this.holder, key: this.key, err: toTidemarkError(err) },
          'restore lease could not be deleted; it expires by itself',
        ),
      );
  }
}

/** Every lease of a source as stored; an unreadable one is kept as such (it pins everything). */
export async function readLeases(store: ObjectStore, source: string): Promise<StoredLease[]> {
  const out: StoredLease[] = [];
  for await (const o of store.list(leasesPrefix(source))) {
    if (!o.key.endsWith('.json')) continue;
    try {
      out.push(parseLease(await store.get(o.key), o.key, source));
    } catch (err) {
      // released between list and get: gone, not unreadable
      if (isTidemarkError(err, 'OBJECT_NOT_FOUND')) continue;
      if (isTidemarkError(err, 'STORE_UNAVAILABLE')) throw err;
      out.push({ key: o.key, unreadable: true });
    }
  }
  return out;
}

/**
 * `execute` under a lease: acquired (pinning everything) before the executor plans,
 * narrowed to the plan's snapshot once it is known, released when the restore ends.
 */
export function withLease(execute: RestoreExecutor, leases: RestoreLeases): RestoreExecutor {
  return async (input) => {
    const lease = await leases.acquire(input.store, input.source, input.id);
    try {
      return await execute({
        ...input,
        onPlanned: async (plan) => {
          await lease.narrow(plan.snapshotLsn);
          await input.onPlanned?.(plan);
        },
      });
    } finally {
      await lease.release();
    }
  };
}
