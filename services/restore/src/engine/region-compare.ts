import {
  compareKeys,
  createSha256,
  type Lsn,
  type ObjectInfo,
  type ObjectStore,
  parseLsn,
  parseSegmentKey,
  segmentsPrefix,
  snapshotsPrefix,
  sourceRegistryKey,
} from '@tidemark/shared';
import { forEachParallel } from './parallel.js';
import type { RegionCatalogs } from './region-catalogs.js';

/** Keys listed per kind in a comparison; the counts are always complete. */
const LIST_LIMIT = 1000;

export interface RegionComparison {
  readonly source: string;
  /** the store compared against ("primary" or a region) */
  readonly region: string;
  readonly compareWith: string;
  readonly objectsCompared: number;
  /** in `region`, not in `compareWith` */
  readonly missing: { readonly count: number; readonly keys: readonly string[] };
  /** in both, with other bytes (size or SHA-256) */
  readonly different: { readonly count: number; readonly keys: readonly string[] };
  /** in `compareWith` only */
  readonly extra: { readonly count: number; readonly keys: readonly string[] };
  /** the tips (a replica's trails the primary's while it catches up) */
  readonly tips: {
    readonly [store: string]: { readonly lastLsn: string; readonly lastCommitTime: string } | null;
  };
  /**
   * no object differs; everything missing is just not copied yet (after the trailing tip) or
   * already collected by one side's retention (before the newer of the two oldest snapshots)
   */
  readonly consistent: boolean;
}

/**
 * Compares one source's journal object by object between two stores (the primary and a
 * region, or two regions): registry entry, snapshots, segments, by size and then SHA-256 of
 * their bytes (objects are copied as stored bytes, so equal content means equal bytes). The
 * tips are shown rather than compared: a region's trails while it catches up.
 */
export async function compareRegions(
  regions: RegionCatalogs,
  source: string,
  region: string | undefined,
  compareWith: string,
): Promise<RegionComparison> {
  const a = regions.resolve(region, 'region');
  const b = regions.resolve(compareWith === 'primary' ? undefined : compareWith, 'compareWith');
  const nameA = region ?? 'primary';
  // the source must exist on one side at least (a region may not have received it yet)
  await a.catalog.requireSource(source).catch(() => b.catalog.requireSource(source));
  const [listA, listB] = await Promise.all([listJournal(a.store, source), listJournal(b.store, source)]);
  const [tipA, tipB] = await Promise.all([a.catalog.readTip(source), b.catalog.readTip(source)]);
  const trailingTip = [tipA, tipB]
    .filter((t) => t !== null)
    .map((t) => t.segmentKey)
    .sort(compareKeys)[0];
  const missing: string[] = [];
  const extra: string[] = [];
  const different: string[] = [];
  const both: string[] = [];
  for (const [key, o] of listA) {
    const other = listB.get(key);
    if (!other) missing.push(key);
    else if (other.size !== o.size) different.push(key);
    else both.push(key);
  }
  for (const key of listB.keys()) if (!listA.has(key)) extra.push(key);
  await forEachParallel(both, 4, async (key) => {
    const [ha, hb] = await Promise.all([sha256Of(a.store, key), sha256Of(b.store, key)]);
    if (ha !== hb) different.push(key);
  });
  different.sort(compareKeys);
  // a segment past the trailing tip is only not copied yet; anything else absent on one side is a gap
  const lagging = (key: string) =>
    key.startsWith(segmentsPrefix(source)) && trailingTip !== undefined && key > trailingTip;
  // each store is garbage-collected on its own: one may have let go of what the other still holds
  const floors = [oldestSnapshot(listA, source), oldestSnapshot(listB, source)].filter(
    (f): f is Lsn => f !== undefined,
  );
  const floor = floors.length === 2 ? newer(floors[0]!, floors[1]!) : undefined;
  const collected = (key: string) => floor !== undefined && beforeFloor(key, source, floor);
  const consistent =
    different.length === 0 && [...missing, ...extra].every((k) => lagging(k) || collected(k));
  const cap = (keys: string[]) => ({ count: keys.length, keys: keys.slice(0, LIST_LIMIT) });
  const tipView = (t: typeof tipA) => (t ? { lastLsn: t.lastLsn, lastCommitTime: t.lastCommitTime } : null);
  return {
    source,
    region: nameA,
    compareWith,
    objectsCompared: new Set([...listA.keys(), ...listB.keys()]).size,
    missing: cap(missing),
    different: cap(different),
    extra: cap(extra),
    tips: { [nameA]: tipView(tipA), [compareWith]: tipView(tipB) },
    consistent,
  };
}

async function listJournal(store: ObjectStore, source: string): Promise<Map<string, ObjectInfo>> {
  const out = new Map<string, ObjectInfo>();
  const registry = await store.head(sourceRegistryKey(source));
  if (registry) out.set(registry.key, registry);
  for (const prefix of [snapshotsPrefix(source), segmentsPrefix(source)])
    for await (const o of store.list(prefix)) out.set(o.key, o);
  return out;
}

/** the larger of two LSNs (bigints: Math.max does not take them) */
function newer(a: Lsn, b: Lsn): Lsn {
  if (a < b) return b;
  return a;
}

const MANIFEST = /^([0-9A-F]{16})\/manifest\.json$/;
const SNAPSHOT_DIR = /^([0-9A-F]{16})\//;

function oldestSnapshot(listing: ReadonlyMap<string, ObjectInfo>, source: string): Lsn | undefined {
  let oldest: Lsn | undefined;
  for (const key of listing.keys()) {
    const m = MANIFEST.exec(key.slice(snapshotsPrefix(source).length));
    if (!key.startsWith(snapshotsPrefix(source)) || !m) continue;
    const lsn = parseLsn(m[1]!);
    if (oldest === undefined || lsn < oldest) oldest = lsn;
  }
  return oldest;
}

/** a snapshot object older than `floor`, or a segment ending at or before it */
function beforeFloor(key: string, source: string, floor: Lsn): boolean {
  const segment = parseSegmentKey(key);
  if (segment) return segment.lastLsn <= floor;
  const m = SNAPSHOT_DIR.exec(key.slice(snapshotsPrefix(source).length));
  return key.startsWith(snapshotsPrefix(source)) && m !== null && parseLsn(m[1]!) < floor;
}

async function sha256Of(store: ObjectStore, key: string): Promise<string> {
  const hash = createSha256();
  for await (const chunk of await store.getStream(key)) hash.update(chunk);
  return hash.digestHex();
}
