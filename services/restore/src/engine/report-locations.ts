import {
  isValidSourceName,
  type ObjectStore,
  type SignedReport,
  TidemarkError,
  toTidemarkError,
} from '@tidemark/shared';
import type { EngineLogger } from './engine-logger.js';
import { isReportId, REPORTS_PREFIX, type ReportListing, ReportStore, reportKey } from './report-store.js';

/**
 * Where signed verification reports live: next to the journal they describe (the primary
 * store, or the replica region that was verified), else, when that store refuses the write
 * (a region verified while the primary is down must not depend on the primary; a region
 * with read-only credentials), in a fallback store in the data directory. Listing and
 * reading visit every location, each within a time limit, and say which could not be read,
 * so `GET /v1/reports` keeps answering with the primary down.
 */
export const PRIMARY_LOCATION = 'primary';
export const FALLBACK_LOCATION = 'data-dir';
const LOCATION_TIMEOUT_MS = 5_000;

export interface ReportLocation {
  /** `primary`, a region name, or `data-dir` */
  readonly name: string;
  readonly store: ObjectStore;
  /** the sources registered in this store: lets `get` look a report up by key instead of listing them all */
  readonly sources?: () => Promise<readonly string[]>;
}

export type LocatedReport = ReportListing & { readonly location: string };

export interface UnreachableLocation {
  readonly location: string;
  readonly message: string;
}

export class ReportLocations {
  private readonly byName = new Map<string, ReportStore>();

  constructor(
    /** the primary first, then the regions; the fallback is tried last */
    private readonly locations: readonly ReportLocation[],
    private readonly fallback: ReportLocation,
    private readonly logger: EngineLogger,
    private readonly timeoutMs = LOCATION_TIMEOUT_MS,
  ) {
    for (const l of [...locations, fallback]) this.byName.set(l.name, new ReportStore(l.store));
  }

  /** Stores the report at `location` (primary or region), else in the fallback; answers where it went. */
  async save(location: string, source: string, id: string, envelope: SignedReport<unknown>): Promise<string> {
    const preferred = this.byName.get(location);
    if (preferred && location !== this.fallback.name) {
      try {
        await preferred.put(source, id, envelope);
        return location;
      } catch (err) {
        this.logger.warn(
          {
            report: id,
            source,
            location,
            fallback: this.fallback.store.description,
            err: toTidemarkError(err),
          },
          'verification report could not be stored next to the journal it describes; storing it in the data directory',
        );
      }
    }
    await this.store(this.fallback.name).put(source, id, envelope);
    return this.fallback.name;
  }

  /** Reports of every reachable location, newest first; `unreachable` names the others. */
  async list(
    source: string | undefined,
    page: { before?: string; limit: number },
  ): Promise<{ items: LocatedReport[]; more: boolean; unreachable: UnreachableLocation[] }> {
    if (source !== undefined && !isValidSourceName(source))
      return { items: [], more: false, unreachable: [] };
    const unreachable: UnreachableLocation[] = [];
    const seen = new Map<string, LocatedReport>();
    const found = await Promise.all(
      this.all().map(async (l) => {
        try {
          return await this.withTimeout(l.name, listLocation(l.store, l.name, source));
        } catch (err) {
          unreachable.push({ location: l.name, message: toTidemarkError(err).message });
          return [];
        }
      }),
    );
    for (const r of found.flat()) if (!seen.has(r.id)) seen.set(r.id, r);
    const sorted = [...seen.values()]
      .filter((r) => page.before === undefined || r.id < page.before)
      .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    if (unreachable.length > 0)
      this.logger.warn({ unreachable }, 'verification reports listed without some locations');
    return { items: sorted.slice(0, page.limit), more: sorted.length > page.limit, unreachable };
  }

  /** NOT_FOUND when no location holds it; STORE_UNAVAILABLE when it may be in one that could not be read. */
  async get(id: string): Promise<SignedReport<unknown>> {
    const unreachable: UnreachableLocation[] = [];
    if (isReportId(id)) {
      for (const l of this.all()) {
        try {
          const key = await this.withTimeout(l.name, findKey(l, id));
          if (key) return await this.store(l.name).read(key);
        } catch (err) {
          unreachable.push({ location: l.name, message: toTidemarkError(err).message });
        }
      }
    }
    if (unreachable.length > 0) {
      throw new TidemarkError(
        'STORE_UNAVAILABLE',
        `verification report ${JSON.stringify(id)} is not in the reachable stores; it may be in one that could not be read: ${unreachable
          .map((u) => `${u.location} (${u.message})`)
          .join('; ')}. Try again once it is reachable`,
        { details: { id, unreachable: unreachable.map((u) => u.location) } },
      );
    }
    throw new TidemarkError(
      'NOT_FOUND',
      `no verification report ${JSON.stringify(id)}; GET /v1/reports lists them`,
      {
        details: { id },
      },
    );
  }

  private all(): ReportLocation[] {
    return [...this.locations, this.fallback];
  }

  private store(name: string): ReportStore {
    const s = this.byName.get(name);
    if (!s) throw new TidemarkError('INTERNAL', `no report location ${name}`);
    return s;
  }

  private async withTimeout<T>(name: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new TidemarkError('STORE_UNAVAILABLE', `${name} did not answer within ${this.timeoutMs} ms`),
          ),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The key of report `id` in one location, by its registered sources, else by listing its reports. */
async function findKey(location: ReportLocation, id: string): Promise<string | undefined> {
  if (location.sources) {
    for (const source of await location.sources()) {
      const key = reportKey(source, id);
      if (isValidSourceName(source) && (await location.store.head(key))) return key;
    }
  }
  // a report of a source no longer (or never) registered here, or the fallback store
  return (await listLocation(location.store, location.name, undefined)).find((r) => r.id === id)?.key;
}

/** Every report under `_reports/` (or `_reports/<source>/`) of one store. */
async function listLocation(
  store: ObjectStore,
  location: string,
  source: string | undefined,
): Promise<LocatedReport[]> {
  const out: LocatedReport[] = [];
  for await (const o of store.list(source === undefined ? REPORTS_PREFIX : `${REPORTS_PREFIX}${source}/`)) {
    const m = /^([^/]+)\/([^/]+)\.json$/.exec(o.key.slice(REPORTS_PREFIX.length));
    if (!m) continue;
    const [, reportSource, id] = m as unknown as [string, string, string];
    if (isValidSourceName(reportSource) && isReportId(id))
      out.push({ id, source: reportSource, key: o.key, location });
  }
  return out;
}
