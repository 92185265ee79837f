import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  type KeyProvider,
  type ObjectStore,
  type SignedReport,
  TidemarkError,
  toTidemarkError,
} from '@tidemark/shared';
import type { EngineLogger } from './engine-logger.js';
import type { JournalCatalog } from './journal-catalog.js';
import { type VerifyProgress, type VerifyReport, verifyJournal } from './journal-verifier.js';
import { PRIMARY_LOCATION, type ReportLocations } from './report-locations.js';
import type { ReportSigner } from './report-signer.js';
import { newReportId } from './report-store.js';
import { parseRange } from './verification-range.js';

/**
 * Runs verifications, turns each into a signed report stored durably, and keeps the jobs
 * of this process (their state lives in memory; the reports are what lasts). Lifecycle of
 * a job: `running → succeeded | failed` (succeeded = a report was produced, whether or not
 * it found problems; failed = no report, e.g. the store was unreachable).
 */
export interface VerificationRequest {
  readonly source: string;
  readonly from?: string;
  readonly to?: string;
  /** a replica region (TIDEMARK_REPLICAS) instead of the primary store */
  readonly region?: string;
}

export interface AuditReport extends Omit<VerifyReport, 'problems'> {
  readonly formatVersion: 1;
  readonly id: string;
  readonly region: string | null;
  /** which store was verified (`local:/dir`, `s3://bucket/prefix`) */
  readonly store: string;
  readonly tidemarkVersion: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly counts: { readonly problems: number; readonly byKind: Readonly<Record<string, number>> };
  readonly problems: VerifyReport['problems'];
  readonly summary: string;
}

export interface VerificationJobView {
  readonly id: string;
  readonly source: string;
  readonly region: string | null;
  readonly range: { readonly from: string | null; readonly to: string | null } | null;
  readonly state: 'running' | 'succeeded' | 'failed';
  readonly progress: VerifyProgress;
  readonly createdAt: string;
  readonly finishedAt?: string;
  /** once succeeded */
  readonly reportId?: string;
  readonly ok?: boolean;
  readonly summary?: string;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface VerificationServiceOptions {
  /** the store and catalog of the primary (undefined) or of a region; throws BAD_REQUEST for an unknown region */
  readonly resolve: (region: string | undefined) => { store: ObjectStore; catalog: JournalCatalog };
  /**
   * where reports are kept: next to the journal verified (the primary, or the region),
   * falling back to the data directory when that store refuses the write
   */
  readonly reports: ReportLocations;
  readonly signer: ReportSigner;
  readonly keys?: KeyProvider;
  readonly logger: EngineLogger;
  /** finished jobs kept for GET (default 100) */
  readonly keepJobs?: number;
}

export const TIDEMARK_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();

export class VerificationService {
  readonly reports: ReportLocations;
  private readonly jobs = new Map<string, VerificationJobView>();

  constructor(private readonly opts: VerificationServiceOptions) {
    this.reports = opts.reports;
  }

  /** Verifies now and answers the stored, signed report. */
  async run(
    req: VerificationRequest,
    onProgress?: (p: VerifyProgress) => void,
  ): Promise<SignedReport<AuditReport>> {
    const range = parseRange(req);
    const { store, catalog } = this.opts.resolve(req.region);
    const startedAt = new Date();
    const result = await verifyJournal(store, catalog, req.source, {
      ...(range ? { range } : {}),
      ...(this.opts.keys ? { keys: this.opts.keys } : {}),
      ...(onProgress ? { onProgress } : {}),
    });
    const finishedAt = new Date();
    const id = newReportId(finishedAt, randomBytes(4).toString('hex'));
    const byKind: Record<string, number> = {};
    for (const p of result.problems) byKind[p.kind] = (byKind[p.kind] ?? 0) + 1;
    const report: AuditReport = {
      formatVersion: 1,
      id,
      ...result,
      region: req.region ?? null,
      store: store.description,
      tidemarkVersion: TIDEMARK_VERSION,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      counts: { problems: result.problems.length, byKind },
      summary: summarize(result, store.description, req.region),
    };
    const signed = this.opts.signer.sign(report);
    const location = await this.reports.save(req.region ?? PRIMARY_LOCATION, req.source, id, signed);
    this.opts.logger.info(
      { source: req.source, report: id, location, ok: result.ok, problems: result.problems.length },
      'journal verified',
    );
    return signed;
  }

  /** Checks the request, then verifies in the background; GET the job for progress and the report id. */
  async start(req: VerificationRequest): Promise<VerificationJobView> {
    const range = parseRange(req);
    await this.opts.resolve(req.region).catalog.requireSource(req.source);
    const id = randomUUID();
    let view: VerificationJobView = {
      id,
      source: req.source,
      region: req.region ?? null,
      range: range ? { from: req.from ?? null, to: req.to ?? null } : null,
      state: 'running',
      progress: {
        phase: 'listing',
        segmentsDone: 0,
        segmentsTotal: 0,
        bytesDone: 0,
        bytesTotal: 0,
        problems: 0,
      },
      createdAt: new Date().toISOString(),
    };
    const set = (patch: Partial<VerificationJobView>) => {
      view = { ...view, ...patch };
      this.jobs.set(id, view);
    };
    set({});
    this.trim();
    this.run(req, (progress) => set({ progress })).then(
      (signed) =>
        set({
          state: 'succeeded',
          finishedAt: signed.report.finishedAt,
          reportId: signed.report.id,
          ok: signed.report.ok,
          summary: signed.report.summary,
        }),
      (err: unknown) => {
        const e = toTidemarkError(err);
        this.opts.logger.warn({ source: req.source, err: e }, 'verification failed');
        set({
          state: 'failed',
          finishedAt: new Date().toISOString(),
          error: { code: e.code, message: e.message },
        });
      },
    );
    return view;
  }

  get(id: string): VerificationJobView {
    const job = this.jobs.get(id);
    if (!job)
      throw new TidemarkError(
        'NOT_FOUND',
        `no verification ${JSON.stringify(id)} in this process; reports of finished ones: GET /v1/reports`,
        {
          details: { id },
        },
      );
    return job;
  }

  list(): VerificationJobView[] {
    return [...this.jobs.values()].reverse();
  }

  private trim(): void {
    const keep = this.opts.keepJobs ?? 100;
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= keep) break;
      if (job.state !== 'running') this.jobs.delete(id);
    }
  }
}

function summarize(r: VerifyReport, store: string, region: string | undefined): string {
  const where = `source ${r.source} in ${store}${region ? ` (region ${region})` : ''}`;
  const span = r.range ? ` from ${r.range.from ?? 'the start'} to ${r.range.to ?? 'the tip'}` : '';
  const what =
    `${r.segments} segments, ${r.records} records, ${r.snapshots} snapshot(s)` +
    (r.firstLsn ? `, LSN ${r.firstLsn} to ${r.lastLsn}` : '') +
    (r.chainHead ? `, chain head ${r.chainHead.slice(0, 16)}…` : '');
  if (r.ok) return `OK: ${where}${span} verified: ${what}; no problems.`;
  const kinds = new Map<string, number>();
  for (const p of r.problems) kinds.set(p.kind, (kinds.get(p.kind) ?? 0) + 1);
  const list = [...kinds].map(([k, n]) => `${k} ×${n}`).join(', ');
  return `PROBLEMS: ${where}${span}: ${r.problems.length} problem(s) (${list}); checked ${what}.`;
}
