import {
  isTidemarkError,
  type ObjectStore,
  parseLsn,
  segmentsPrefix,
  snapshotManifestKey,
  snapshotPrefix,
  type TipDocument,
} from '@tidemark/shared';
import { type SourceSummary, summarize } from './journal-catalog.js';
import type { RegionCatalogs, RegionView } from './region-catalogs.js';
import { readReplicationStatus } from './replication-status.js';

/** How far a replica region is behind the primary for one source (GET /v1/sources `regions`). */
export interface RegionSummary {
  readonly name: string;
  /** primary tip commit time minus the region's tip commit time; null before the region has a tip */
  readonly lagSeconds: number | null;
  /** bytes of journal (segments, and the base snapshot if missing) the region does not hold yet */
  readonly lagBytes: number | null;
  /** the newest instant a restore from this region reaches */
  readonly latestRestorableTime: string | null;
  /** the replicator's last error for this region, or why the region could not be read now */
  readonly lastError: string | null;
}

export type RegionalSourceSummary = SourceSummary & {
  readonly region?: string;
  readonly regions?: readonly RegionSummary[];
};

const DESCRIBE_TIMEOUT_MS = 5_000;

/**
 * GET /v1/sources over the primary and its regions. `?region=` lists from that region's
 * store alone (usable while the primary is down); without it, the primary's listing gains
 * a `regions` entry per source, each computed within a few seconds or reported as an error.
 */
export class RegionalSources {
  constructor(
    private readonly regions: RegionCatalogs,
    private readonly describeTimeoutMs = DESCRIBE_TIMEOUT_MS,
  ) {}

  async listSources(options: { region?: string } = {}): Promise<RegionalSourceSummary[]> {
    if (options.region !== undefined) {
      const view = this.regions.resolve(options.region, 'region');
      return (await view.catalog.listSources()).map((s) => ({ ...s, region: options.region }));
    }
    const list = await this.regions.primary.catalog.listSources();
    if (this.regions.names().length === 0) return list;
    return Promise.all(list.map(async (s) => ({ ...s, regions: await this.describeRegions(s.name) })));
  }

  async getSource(name: string, options: { region?: string } = {}): Promise<RegionalSourceSummary> {
    if (options.region !== undefined) {
      const view = this.regions.resolve(options.region, 'region');
      return { ...(await view.catalog.getSource(name)), region: options.region };
    }
    const summary = await this.regions.primary.catalog.getSource(name);
    if (this.regions.names().length === 0) return summary;
    return { ...summary, regions: await this.describeRegions(name) };
  }

  private async describeRegions(source: string): Promise<RegionSummary[]> {
    const primary = this.regions.primary;
    let primaryTip: TipDocument | null;
    try {
      primaryTip = await primary.catalog.readTip(source);
    } catch {
      primaryTip = null;
    }
    return Promise.all(
      this.regions
        .names()
        .map((name) =>
          withTimeout(
            describeRegion(primary.store, this.regions.resolve(name), source, primaryTip),
            this.describeTimeoutMs,
            name,
          ),
        ),
    );
  }
}

async function describeRegion(
  primary: ObjectStore,
  region: RegionView,
  source: string,
  primaryTip: TipDocument | null,
): Promise<RegionSummary> {
  const name = region.region ?? 'primary';
  const status = await readReplicationStatus(primary, name).catch(() => null);
  let replica: ReturnType<typeof summarize> | null = null;
  let replicaTip: TipDocument | null = null;
  try {
    const state = await region.catalog.getSourceState(source);
    replica = summarize(state);
    replicaTip = state.tip;
  } catch (err) {
    if (!isTidemarkError(err, 'UNKNOWN_SOURCE')) {
      return {
        name,
        lagSeconds: null,
        lagBytes: null,
        latestRestorableTime: null,
        lastError: `region unreadable: ${(err as Error).message}`,
      };
    }
  }
  const lagSeconds =
    primaryTip === null
      ? 0
      : replicaTip === null
        ? null
        : Math.max(0, Number(BigInt(primaryTip.lastCommitTime) - BigInt(replicaTip.lastCommitTime)) / 1e6);
  let lagBytes: number | null = null;
  try {
    lagBytes = await bytesBehind(primary, region.store, source, primaryTip, replicaTip);
  } catch {
    // the primary is unreachable: the region's own view above is still worth answering
  }
  return {
    name,
    lagSeconds,
    lagBytes,
    latestRestorableTime: replica?.latestRestorableTime ?? null,
    lastError: status?.lastError ?? null,
  };
}

/** Segments past the region's tip up to the primary's, plus the chain's snapshot when the region has no tip yet. */
async function bytesBehind(
  primary: ObjectStore,
  replica: ObjectStore,
  source: string,
  primaryTip: TipDocument | null,
  replicaTip: TipDocument | null,
): Promise<number> {
  if (!primaryTip) return 0;
  let bytes = 0;
  const after = replicaTip?.segmentKey;
  for await (const o of primary.list(segmentsPrefix(source), after ? { startAfter: after } : {})) {
    if (o.key > primaryTip.segmentKey) break;
    bytes += o.size;
  }
  const snapshotLsn = parseLsn(primaryTip.snapshotLsn);
  // a region with a tip holds a snapshot on its chain; its collector may have deleted the base
  if (!replicaTip && !(await replica.head(snapshotManifestKey(source, snapshotLsn)))) {
    for await (const o of primary.list(snapshotPrefix(source, snapshotLsn))) bytes += o.size;
  }
  return bytes;
}

async function withTimeout(work: Promise<RegionSummary>, ms: number, name: string): Promise<RegionSummary> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<RegionSummary>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          name,
          lagSeconds: null,
          lagBytes: null,
          latestRestorableTime: null,
          lastError: `region did not answer within ${ms} ms`,
        }),
      ms,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
