import {
  formatLsn,
  formatTimestampMicros,
  initChecksums,
  isTidemarkError,
  isValidSourceName,
  type KeyProvider,
  type Lsn,
  type ObjectStore,
  parseLsn,
  parseSegmentKey,
  type RetentionDuration,
  segmentsPrefix,
  sha256Hex,
  snapshotsPrefix,
  sourceRegistryKey,
  sourceRegistryPrefix,
  TidemarkError,
  type TipDocument,
  tipKey,
} from '@tidemark/shared';
import { parseManifest } from './manifest-validator.js';
import { forEachParallel } from './parallel.js';
import type { ResolvedRestorePoint } from './restore-planner.js';
import { scanSegmentForRestorePoints } from './restore-point-scan.js';
import { describeTarget } from './restore-target.js';
import {
  checkTargetInWindow,
  type RestoreWindow,
  restoreWindow,
  type SnapshotInfo,
} from './restore-window.js';
import { snapshotsInRetention } from './retention-filter.js';
import { parseTipDocument } from './tip-document.js';

/** What the API shows about a source. Times are ISO-8601 with µs, UTC; LSNs `X/Y`. */
export interface SourceSummary {
  readonly name: string;
  /** false until a base snapshot is on the journal */
  readonly restorable: boolean;
  /** the oldest usable base snapshot's time */
  readonly earliestRestorableTime: string | null;
  /** the newest archived commit (tip), or the snapshot's time before the first segment */
  readonly latestRestorableTime: string | null;
  readonly latestLsn: string | null;
  /** LSN of the base snapshot the journal's chain starts at */
  readonly snapshotLsn: string | null;
  /** usable base snapshots */
  readonly snapshots: number;
  /** journal segments up to the tip (only when asked for: it lists the whole journal) */
  readonly segments?: number;
  /** snapshot manifests that failed validation and are not used */
  readonly problems?: readonly string[];
  /** the retention window's length (`7d`), null when everything is kept; absent when not configured here */
  readonly retention?: string | null;
}

/** Everything the planner needs about a source, read once. */
export interface SourceState {
  readonly name: string;
  /** valid snapshots, oldest first (all of them, usable or not) */
  readonly snapshots: readonly SnapshotInfo[];
  readonly tip: TipDocument | null;
  readonly window: RestoreWindow | undefined;
  readonly problems: readonly string[];
  /** the source's retention (null: keep everything); absent when the catalog has no retention setting */
  readonly retention?: RetentionDuration | null;
}

/**
 * Read-only view of the journal in an object store: sources, snapshots, tip, segments.
 * Manifests are cached by key: once published (written last) a manifest never changes,
 * and reading every manifest on every API call would be wasteful. The tip is always
 * read fresh.
 */
export class JournalCatalog {
  private readonly manifests = new Map<string, SnapshotInfo>();
  /** restore points per segment key (and size): a durable segment never changes */
  private readonly restorePoints = new Map<string, { size: number; points: ResolvedRestorePoint[] }>();

  constructor(
    private readonly store: ObjectStore,
    /** opens encrypted segments when the catalog reads records (restore points) */
    private readonly options: {
      readonly keys?: KeyProvider;
      /** each source's retention (null: keep everything): snapshots before its window are not offered */
      readonly retention?: (source: string) => RetentionDuration | null;
      readonly now?: () => number;
    } = {},
  ) {}

  /** the store this catalog reads, for readers that share it (snapshot verification) */
  get objectStore(): ObjectStore {
    return this.store;
  }

  /** the key provider encrypted segments open with, for readers that share this catalog */
  get keys(): KeyProvider | undefined {
    return this.options.keys;
  }

  async listSourceNames(): Promise<string[]> {
    const names: string[] = [];
    for await (const o of this.store.list(sourceRegistryPrefix)) {
      const name = o.key.slice(sourceRegistryPrefix.length);
      if (!name.endsWith('.json')) continue;
      const base = name.slice(0, -'.json'.length);
      if (isValidSourceName(base)) names.push(base);
    }
    return names;
  }

  async listSources(): Promise<SourceSummary[]> {
    const out: SourceSummary[] = [];
    for (const name of await this.listSourceNames()) {
      try {
        out.push(summarize(await this.getSourceState(name)));
      } catch (err) {
        // one unreadable source must not hide the others
        const message = err instanceof Error ? err.message : String(err);
        out.push({ ...emptySummary(name), problems: [message] });
      }
    }
    return out;
  }

  async getSource(name: string, options: { countSegments?: boolean } = {}): Promise<SourceSummary> {
    const state = await this.getSourceState(name);
    const summary = summarize(state);
    if (!options.countSegments) return summary;
    return { ...summary, segments: (await this.listSegmentKeys(name)).length };
  }

  /** Throws UNKNOWN_SOURCE (listing the known sources) when `name` is not registered. */
  async getSourceState(name: string): Promise<SourceState> {
    await this.requireSource(name);
    const problems: string[] = [];
    const [all, tip] = await Promise.all([this.listSnapshots(name, problems), this.readTip(name)]);
    if (!this.options.retention)
      return { name, snapshots: all, tip, window: restoreWindow(all, tip), problems };
    const retention = this.options.retention(name);
    const snapshots = snapshotsInRetention(all, tip, retention, (this.options.now ?? Date.now)());
    return { name, snapshots, tip, window: restoreWindow(snapshots, tip), problems, retention };
  }

  async requireSource(name: string): Promise<void> {
    if (isValidSourceName(name) && (await this.store.head(sourceRegistryKey(name)))) return;
    const known = await this.listSourceNames();
    const hint = known.length > 0 ? `known sources: ${known.join(', ')}` : 'no source is registered yet';
    throw new TidemarkError('UNKNOWN_SOURCE', `unknown source ${JSON.stringify(name)}; ${hint}`, {
      details: { source: name, known },
    });
  }

  /**
   * Valid base snapshots, oldest first, each with the SHA-256 of its manifest bytes.
   * A malformed manifest is left out and described in `problems` (when given): the
   * verifier reports it; the other snapshots stay usable.
   */
  async listSnapshots(source: string, problems?: string[]): Promise<SnapshotInfo[]> {
    const keys: string[] = [];
    for await (const o of this.store.list(snapshotsPrefix(source))) {
      // `<source>/base/<lsnHex16>/manifest.json`, nothing deeper
      const rest = o.key.slice(snapshotsPrefix(source).length);
      if (/^[0-9A-F]{16}\/manifest\.json$/.test(rest)) keys.push(o.key);
    }
    const out: SnapshotInfo[] = [];
    for (const key of keys) {
      try {
        out.push(await this.readSnapshot(source, key));
      } catch (err) {
        if (!isTidemarkError(err, 'SNAPSHOT_CORRUPT') && !isTidemarkError(err, 'OBJECT_NOT_FOUND')) throw err;
        problems?.push(err.message);
      }
    }
    return out.sort((a, b) => (parseLsn(a.lsn) < parseLsn(b.lsn) ? -1 : 1));
  }

  async readSnapshot(source: string, manifestKey: string): Promise<SnapshotInfo> {
    const cached = this.manifests.get(manifestKey);
    if (cached) return cached;
    const bytes = await this.store.get(manifestKey);
    const manifest = parseManifest(bytes, manifestKey, source);
    // the directory name and the manifest must agree, or the chain anchor would be ambiguous
    const dirLsn = manifestKey.slice(snapshotsPrefix(source).length, snapshotsPrefix(source).length + 16);
    if (parseLsn(dirLsn) !== parseLsn(manifest.lsn)) {
      throw new TidemarkError(
        'SNAPSHOT_CORRUPT',
        `snapshot manifest ${manifestKey} says LSN ${manifest.lsn}`,
        {
          details: { key: manifestKey },
        },
      );
    }
    const info: SnapshotInfo = { ...manifest, manifestKey, sha256: sha256Hex(bytes) };
    this.manifests.set(manifestKey, info);
    return info;
  }

  /** The tip document, or null before the journal's first segment. */
  async readTip(source: string): Promise<TipDocument | null> {
    try {
      return parseTipDocument(await this.store.get(tipKey(source)), tipKey(source), source);
    } catch (err) {
      if (isTidemarkError(err, 'OBJECT_NOT_FOUND')) return null;
      throw err;
    }
  }

  /**
   * Segment keys of the journal in chain order: only up to and including the tip's key.
   * An object beyond the tip is not journal (a crash between segment write and tip
   * update); the journal service adopts or removes it. With `afterLsn`, only segments
   * that may hold commits after it.
   */
  async listSegmentKeys(
    source: string,
    options: { afterLsn?: Lsn; tip?: TipDocument | null } = {},
  ): Promise<string[]> {
    return (await this.listSegments(source, options)).map((s) => s.key);
  }

  /** Like listSegmentKeys, with each segment's size in bytes. */
  async listSegments(
    source: string,
    options: { afterLsn?: Lsn; tip?: TipDocument | null } = {},
  ): Promise<{ key: string; size: number }[]> {
    const tip = options.tip !== undefined ? options.tip : await this.readTip(source);
    if (!tip) return [];
    const out: { key: string; size: number }[] = [];
    for await (const o of this.store.list(segmentsPrefix(source))) {
      if (o.key > tip.segmentKey) break;
      const parsed = parseSegmentKey(o.key);
      if (!parsed || parsed.source !== source) continue;
      if (options.afterLsn !== undefined && parsed.lastLsn <= options.afterLsn) continue;
      out.push({ key: o.key, size: o.size });
    }
    return out;
  }

  /**
   * Every named restore point on the journal's chain, in commit order (a name written
   * twice outside Tidemark appears twice). Reads each segment once: what a segment holds
   * is cached by key and size. Throws UNKNOWN_SOURCE.
   */
  async listRestorePoints(source: string): Promise<ResolvedRestorePoint[]> {
    const state = await this.getSourceState(source);
    if (!state.tip) return [];
    await initChecksums();
    const segments = await this.listSegments(source, { tip: state.tip });
    const found: ResolvedRestorePoint[][] = new Array(segments.length);
    await forEachParallel(
      segments.map((s, i) => ({ ...s, i })),
      4,
      async ({ key, size, i }) => {
        const cached = this.restorePoints.get(key);
        if (cached && cached.size === size) {
          found[i] = cached.points;
          return;
        }
        const points = await scanSegmentForRestorePoints(await this.store.get(key), key, this.options.keys);
        this.restorePoints.set(key, { size, points });
        found[i] = points;
      },
    );
    return found.flat();
  }

  /**
   * The restore point a restore to `name` stops at: the first with that name in commit
   * order (PostgreSQL's recovery_target_name takes the first too). TARGET_AFTER_WINDOW
   * when the journal has none (it may not be archived yet), TARGET_BEFORE_WINDOW when it
   * lies before the oldest usable snapshot.
   */
  async findRestorePoint(source: string, name: string): Promise<ResolvedRestorePoint> {
    const points = await this.listRestorePoints(source);
    const point = points.find((p) => p.name === name);
    if (!point) {
      const known = [...new Set(points.map((p) => p.name))];
      const shown = known.length > 20 ? [...known.slice(-20), '...'] : known;
      throw new TidemarkError(
        'TARGET_AFTER_WINDOW',
        `source ${source} has no restore point named ${JSON.stringify(name)} in its journal (${
          known.length > 0 ? `restore points: ${shown.join(', ')}` : 'it has no restore points yet'
        }); a restore point is in the journal once archived, about a second after it was created`,
        { details: { source, restorePoint: name, known: shown } },
      );
    }
    const state = await this.getSourceState(source);
    try {
      checkTargetInWindow(source, state.window, { kind: 'lsn', lsn: point.commitLsn });
    } catch (err) {
      if (!isTidemarkError(err)) throw err;
      throw new TidemarkError(
        err.code,
        `${describeTarget({ kind: 'restorePoint', name })} (commit LSN ${formatLsn(point.commitLsn)}): ${err.message}`,
        { cause: err, details: { ...err.details, restorePoint: name } },
      );
    }
    return point;
  }
}

export function summarize(state: SourceState): SourceSummary {
  const w = state.window;
  const chainStart = state.tip ? state.tip.snapshotLsn : state.snapshots[state.snapshots.length - 1]?.lsn;
  const base = {
    name: state.name,
    ...(state.problems.length > 0 ? { problems: state.problems } : {}),
    ...(state.retention === undefined ? {} : { retention: state.retention?.text ?? null }),
  };
  if (!w) return { ...emptySummary(state.name), ...base, snapshotLsn: chainStart ? norm(chainStart) : null };
  return {
    ...base,
    restorable: true,
    earliestRestorableTime: formatTimestampMicros(w.earliestTime),
    latestRestorableTime: formatTimestampMicros(w.latestTime),
    latestLsn: formatLsn(w.latestLsn),
    snapshotLsn: chainStart ? norm(chainStart) : null,
    snapshots: w.snapshots.length,
  };
}

function emptySummary(name: string): SourceSummary {
  return {
    name,
    restorable: false,
    earliestRestorableTime: null,
    latestRestorableTime: null,
    latestLsn: null,
    snapshotLsn: null,
    snapshots: 0,
  };
}

function norm(lsn: string): string {
  return formatLsn(parseLsn(lsn));
}
