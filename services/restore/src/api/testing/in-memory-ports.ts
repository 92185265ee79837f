import { TidemarkError } from '@tidemark/shared';
import type {
  HealthPort,
  ReadinessCheck,
  RestoreJobView,
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
  private seq = 0;

  constructor(private readonly sources: InMemorySources) {}

  async submit(req: RestoreRequest): Promise<RestoreJobView> {
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

  get(id: string): RestoreJobView {
    const job = this.jobs.get(id);
    if (!job) throw new TidemarkError('UNKNOWN_RESTORE', `no restore with id ${JSON.stringify(id)}`);
    return job;
  }

  list(): RestoreJobView[] {
    return [...this.jobs.values()];
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
