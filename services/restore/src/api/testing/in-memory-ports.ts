import { TidemarkError } from '@tidemark/shared';
import type {
  HealthPort,
  ReadinessCheck,
  RestoreJobView,
  RestorePoint,
  RestorePointsPort,
  RestoreRequest,
  RestoresPort,
  SourceSummary,
  SourcesPort,
  VerifyPort,
  VerifyReport,
} from '../api-ports.js';

/**
 * Small working implementations of the API's ports, for tests of the HTTP layer: they
 * keep their state in memory and follow the ports' contracts (which codes they throw).
 */
export class InMemorySources implements SourcesPort {
  readonly summaries = new Map<string, SourceSummary>();

  constructor(summaries: readonly SourceSummary[] = []) {
    for (const s of summaries) this.summaries.set(s.name, s);
  }

  async listSources(): Promise<SourceSummary[]> {
    return [...this.summaries.values()];
  }

  async getSource(name: string): Promise<SourceSummary> {
    const s = this.summaries.get(name);
    if (!s) {
      throw new TidemarkError('UNKNOWN_SOURCE', `no source named ${JSON.stringify(name)}`, {
        details: { source: name, known: [...this.summaries.keys()] },
      });
    }
    return s;
  }
}

/** Checks the window like the engine does (times compared as fixed-format UTC text). */
export class InMemoryRestores implements RestoresPort {
  readonly jobs = new Map<string, RestoreJobView>();
  readonly submitted: RestoreRequest[] = [];
  readonly planned: RestoreRequest[] = [];
  readonly keys = new Map<string, { request: string; id: string }>();
  private readonly watchers = new Map<string, Set<(job: RestoreJobView) => void>>();
  private seq = 0;

  constructor(private readonly sources: InMemorySources) {}

  async submit(req: RestoreRequest): Promise<RestoreJobView> {
    await this.check(req);
    this.submitted.push(req);
    const job: RestoreJobView = {
      id: `r_${++this.seq}`,
      source: req.source,
      state: 'queued',
      progress: { phase: 'queued' },
      createdAt: '2026-11-23T10:41:08.000000Z',
      target: req.target,
    };
    this.jobs.set(job.id, job);
    return job;
  }

  async submitIdempotent(
    req: RestoreRequest,
    idempotencyKey: string,
  ): Promise<{ job: RestoreJobView; replayed: boolean }> {
    if (!/^[\x21-\x7e]{1,255}$/.test(idempotencyKey))
      throw new TidemarkError(
        'BAD_REQUEST',
        'the Idempotency-Key header must be 1 to 255 printable characters',
      );
    const request = JSON.stringify(req);
    const seen = this.keys.get(idempotencyKey);
    if (seen) {
      if (seen.request !== request)
        throw new TidemarkError(
          'CONFLICT',
          `the Idempotency-Key was used for restore ${seen.id} with another request`,
        );
      return { job: this.get(seen.id), replayed: true };
    }
    const job = { ...(await this.submit(req)), idempotencyKey };
    this.jobs.set(job.id, job);
    this.keys.set(idempotencyKey, { request, id: job.id });
    return { job, replayed: false };
  }

  async plan(req: RestoreRequest): Promise<object> {
    const source = await this.check(req);
    this.planned.push(req);
    return {
      dryRun: true,
      source: req.source,
      target: req.target,
      snapshotLsn: source.snapshotLsn,
      segments: 3,
      segmentBytes: 3 * 1024 * 1024,
      snapshotBytes: 1024 * 1024,
      totalBytes: 4 * 1024 * 1024,
      estimatedSeconds: 1,
      bytesPerSecond: 16 * 1024 * 1024,
      notes: [],
    };
  }

  async cancel(id: string): Promise<RestoreJobView> {
    const job = this.get(id);
    if (!['queued', 'running'].includes(job.state))
      throw new TidemarkError('CONFLICT', `restore ${id} already ${job.state}; there is nothing to cancel`);
    return this.update(id, {
      state: 'cancelled',
      error: { code: 'CANCELLED', message: `restore ${id} was cancelled` },
    });
  }

  get(id: string): RestoreJobView {
    const job = this.jobs.get(id);
    if (!job) throw new TidemarkError('UNKNOWN_RESTORE', `no restore with id ${JSON.stringify(id)}`);
    return job;
  }

  list(): RestoreJobView[] {
    return [...this.jobs.values()];
  }

  watch(id: string, listener: (job: RestoreJobView) => void): () => void {
    this.get(id);
    const set = this.watchers.get(id) ?? new Set();
    this.watchers.set(id, set);
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Changes a job as the engine would, and tells its watchers. */
  update(id: string, patch: Partial<RestoreJobView>): RestoreJobView {
    const job = { ...this.get(id), ...patch };
    this.jobs.set(id, job);
    for (const listener of [...(this.watchers.get(id) ?? [])]) listener(job);
    return job;
  }

  watcherCount(id: string): number {
    return this.watchers.get(id)?.size ?? 0;
  }

  private async check(req: RestoreRequest): Promise<SourceSummary> {
    const source = await this.sources.getSource(req.source);
    if ('time' in req.target) {
      const t = req.target.time;
      const window = { earliest: source.earliestRestorableTime, latest: source.latestRestorableTime };
      if (source.earliestRestorableTime === null || t < source.earliestRestorableTime) {
        throw new TidemarkError('TARGET_BEFORE_WINDOW', `${t} is before the restorable window`, {
          details: window,
        });
      }
      if (source.latestRestorableTime !== null && t > source.latestRestorableTime) {
        throw new TidemarkError('TARGET_AFTER_WINDOW', `${t} is after the newest archived commit`, {
          details: window,
        });
      }
    }
    return source;
  }
}

/** Restore points of sources whose URL is "known" (`writable`); others answer SOURCE_NOT_READY. */
export class InMemoryRestorePoints implements RestorePointsPort {
  readonly points = new Map<string, (RestorePoint & { xid: number })[]>();
  readonly writable = new Set<string>();
  private lsn = 0x16_c000_0000;

  constructor(private readonly sources: InMemorySources) {}

  async create(source: string, name: string): Promise<{ name: string; lsn: string; createdAt: string }> {
    await this.sources.getSource(source);
    if (!this.writable.has(source))
      throw new TidemarkError(
        'SOURCE_NOT_READY',
        `restore points must be created where the source URL of ${source} is configured`,
      );
    const list = this.points.get(source) ?? [];
    if (list.some((p) => p.name === name))
      throw new TidemarkError('CONFLICT', `source ${source} already has a restore point named ${name}`);
    this.lsn += 0x100;
    const lsn = `${Math.floor(this.lsn / 2 ** 32)
      .toString(16)
      .toUpperCase()}/${(this.lsn % 2 ** 32).toString(16).toUpperCase()}`;
    list.push({ name, lsn, time: '2026-11-23T10:41:09.000000Z', xid: 1000 + list.length });
    this.points.set(source, list);
    return { name, lsn, createdAt: '2026-11-23T10:41:09.000Z' };
  }

  async list(source: string): Promise<RestorePoint[]> {
    await this.sources.getSource(source);
    return this.points.get(source) ?? [];
  }
}

export class InMemoryVerify implements VerifyPort {
  readonly reports = new Map<string, VerifyReport>();

  async verify(source: string): Promise<VerifyReport> {
    const r = this.reports.get(source);
    if (!r) throw new TidemarkError('UNKNOWN_SOURCE', `no source named ${JSON.stringify(source)}`);
    return r;
  }
}

export class InMemoryHealth implements HealthPort {
  alive = true;
  checks: Record<string, ReadinessCheck> = { journal: { ok: true } };

  live(): boolean {
    return this.alive;
  }

  ready(): { ready: boolean; checks: Record<string, ReadinessCheck> } {
    return { ready: Object.values(this.checks).every((c) => c.ok), checks: this.checks };
  }
}
