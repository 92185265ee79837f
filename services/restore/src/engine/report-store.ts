import { isValidSourceName, type ObjectStore, type SignedReport, TidemarkError } from '@tidemark/shared';

/**
 * Signed verification reports in the object store, next to the journal they describe:
 * `_reports/<source>/<id>.json`. `put` is atomic and durable (the store writes a temporary
 * object and publishes it), so a report is either whole or absent. Ids start with the
 * finishing time, so key order is time order and listing pages by key.
 */
export const REPORTS_PREFIX = '_reports/';
const REPORT_ID = /^\d{8}T\d{9}Z-[0-9a-f]{8}$/;

export interface ReportListing {
  readonly id: string;
  readonly source: string;
  readonly key: string;
}

export function isReportId(id: string): boolean {
  return REPORT_ID.test(id);
}

export function newReportId(finishedAt: Date, random: string): string {
  return `${finishedAt.toISOString().replace(/[-:.]/g, '')}-${random}`;
}

export const reportKey = (source: string, id: string): string => `${REPORTS_PREFIX}${source}/${id}.json`;

export class ReportStore {
  constructor(private readonly store: ObjectStore) {}

  async put(source: string, id: string, envelope: SignedReport<unknown>): Promise<void> {
    await this.store.put(
      reportKey(source, id),
      new TextEncoder().encode(`${JSON.stringify(envelope, null, 2)}\n`),
    );
  }

  /** the envelope stored under `key` */
  async read(key: string): Promise<SignedReport<unknown>> {
    return JSON.parse(new TextDecoder().decode(await this.store.get(key)));
  }

  /** UNKNOWN_REPORT-like NOT_FOUND naming the id when no source holds it. */
  async get(id: string, sources: readonly string[]): Promise<SignedReport<unknown>> {
    if (isReportId(id)) {
      for (const source of sources) {
        const key = reportKey(source, id);
        if (await this.store.head(key))
          return JSON.parse(new TextDecoder().decode(await this.store.get(key)));
      }
    }
    throw new TidemarkError(
      'NOT_FOUND',
      `no verification report ${JSON.stringify(id)}; GET /v1/reports lists them`,
      {
        details: { id },
      },
    );
  }

  /** Newest first is what people want; keys sort oldest first, so pages walk backwards by id. */
  async list(
    sources: readonly string[],
    options: { before?: string; limit: number },
  ): Promise<{ items: ReportListing[]; more: boolean }> {
    const all: ReportListing[] = [];
    for (const source of sources) {
      if (!isValidSourceName(source)) continue;
      const prefix = `${REPORTS_PREFIX}${source}/`;
      for await (const o of this.store.list(prefix)) {
        const id = o.key.slice(prefix.length, -'.json'.length);
        if (o.key.endsWith('.json') && isReportId(id)) all.push({ id, source, key: o.key });
      }
    }
    const sorted = all
      .filter((r) => options.before === undefined || r.id < options.before)
      .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    return { items: sorted.slice(0, options.limit), more: sorted.length > options.limit };
  }
}
