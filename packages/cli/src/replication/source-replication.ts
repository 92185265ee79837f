import { parseTipDocument } from '@tidemark/restore';
import {
  isTidemarkError,
  type Lsn,
  type ObjectInfo,
  type ObjectStore,
  parseLsn,
  parseSegmentKey,
  segmentsPrefix,
  snapshotsPrefix,
  sourceRegistryKey,
  TidemarkError,
  type TipDocument,
  tipKey,
} from '@tidemark/shared';
import type { CopyKind } from './object-copy.js';

/** How one pass left a source in a region. */
export interface SourcePassOutcome {
  readonly source: string;
  readonly primaryTip: TipDocument | null;
  /** the region's tip after the pass */
  readonly replicaTip: TipDocument | null;
  readonly copiedObjects: number;
  readonly copiedBytes: number;
}

export interface SourcePassOptions {
  readonly primary: ObjectStore;
  readonly replica: ObjectStore;
  readonly source: string;
  /** copies one object (verified), retrying; resolves with the bytes copied */
  readonly copy: (key: string, kind: CopyKind, size: number) => Promise<number>;
  /** writes these exact bytes as the region's tip (verified), retrying */
  readonly publishTip: (bytes: Uint8Array) => Promise<void>;
  /** bytes found missing or different when the pass started, then after each copy */
  readonly onPending: (bytes: number) => void;
  /** the primary's and the region's tips as the pass found them */
  readonly onTips: (primaryTip: TipDocument | null, replicaTip: TipDocument | null) => void;
  readonly concurrency: number;
}

/**
 * One idempotent pass of a source to a region: compares listings and copies what the
 * region lacks or holds with another size, in the order that keeps the region's journal
 * consistent at every instant:
 *
 * 1. the registry entry `_sources/<source>.json` (the region lists the source);
 * 2. every published snapshot (one whose manifest exists in the primary): its table
 *    files, then its manifest LAST, so the region never publishes a partial snapshot;
 * 3. every segment up to the primary's tip (read BEFORE listing, so all it covers is
 *    listed; orphans past it are not journal and are not copied);
 * 4. the tip LAST, byte for byte, and only when the region holds a snapshot on the tip's
 *    chain and every segment after it up to the tip, and never backwards.
 *
 * Deletions are never copied: each region is garbage-collected on its own (its own kept
 * snapshot, its own leases). So that the collector and this pass do not undo each other,
 * once the region has a tip nothing older than its oldest snapshot is copied again (older
 * snapshots, segments ending at or before it): the region's collector let those go.
 *
 * A crash anywhere leaves the region with a consistent, older journal; the next pass
 * (after a restart too) copies the rest.
 */
export async function replicateSource(opts: SourcePassOptions): Promise<SourcePassOutcome> {
  const { primary, replica, source } = opts;
  let copiedObjects = 0;
  let copiedBytes = 0;
  const tipBytes = await getOrNull(primary, tipKey(source));
  const primaryTip = tipBytes ? parseTipDocument(tipBytes, tipKey(source), source) : null;

  const [primaryObjects, replicaObjects] = await Promise.all([
    listSizes(primary, [snapshotsPrefix(source), segmentsPrefix(source)]),
    listSizes(replica, [snapshotsPrefix(source), segmentsPrefix(source)]),
  ]);
  const startTipBytes = await getOrNull(replica, tipKey(source));
  opts.onTips(primaryTip, startTipBytes ? parseTipDocument(startTipBytes, tipKey(source), source) : null);
  // before the region's first tip it is still being seeded: everything is copied
  const floor = startTipBytes ? oldestSnapshotLsn(replicaObjects, source) : undefined;
  const registry = sourceRegistryKey(source);
  const [primaryRegistry, replicaRegistry] = await Promise.all([
    primary.head(registry),
    replica.head(registry),
  ]);

  // what to copy, in publication order: registry, snapshot tables, manifests, segments
  const tables: ObjectInfo[] = [];
  const manifests: ObjectInfo[] = [];
  const segments: ObjectInfo[] = [];
  const published = new Set<string>();
  for (const o of primaryObjects.values()) {
    if (o.key.startsWith(snapshotsPrefix(source)) && o.key.endsWith('/manifest.json'))
      published.add(o.key.slice(0, -'manifest.json'.length));
  }
  for (const o of primaryObjects.values()) {
    if (replicaObjects.get(o.key)?.size === o.size) continue;
    if (floor !== undefined && belowFloor(o.key, source, floor)) continue;
    if (o.key.startsWith(segmentsPrefix(source))) {
      if (primaryTip && o.key <= primaryTip.segmentKey) segments.push(o);
    } else {
      const dir = [...published].find((d) => o.key.startsWith(d));
      if (dir === undefined) continue; // a snapshot still being written: not yet published
      (o.key.endsWith('/manifest.json') ? manifests : tables).push(o);
    }
  }
  const registryMissing =
    primaryRegistry !== undefined && replicaRegistry?.size !== primaryRegistry.size ? [primaryRegistry] : [];
  let pending = [...registryMissing, ...tables, ...manifests, ...segments].reduce((n, o) => n + o.size, 0);
  opts.onPending(pending);

  const copyAll = async (objects: readonly ObjectInfo[], kind: CopyKind) => {
    await forEachLimited(objects, opts.concurrency, async (o) => {
      const bytes = await opts.copy(o.key, kind, o.size);
      copiedObjects++;
      copiedBytes += bytes;
      pending = Math.max(0, pending - o.size);
      opts.onPending(pending);
    });
  };
  await copyAll(registryMissing, 'object');
  await copyAll(tables, 'object');
  await copyAll(manifests, 'object');
  await copyAll(segments, 'segment');

  const replicaTipBytes = await getOrNull(replica, tipKey(source));
  let replicaTip = replicaTipBytes ? parseTipDocument(replicaTipBytes, tipKey(source), source) : null;
  // never backwards: a region tip at or past this one was published by a copier that read a
  // newer primary tip (several journal processes each replicate); it is as consistent as ours
  const newer =
    replicaTip === null ||
    (primaryTip !== null && parseLsn(primaryTip.lastLsn) > parseLsn(replicaTip.lastLsn));
  if (primaryTip && tipBytes && newer && !sameBytes(tipBytes, replicaTipBytes)) {
    await checkTipCovered(primaryTip, primaryObjects, replica, source);
    // the bytes read at the start of the pass, not the primary's tip now: that may name
    // segments this pass has not copied
    await opts.publishTip(tipBytes);
    replicaTip = primaryTip;
    copiedObjects++;
    copiedBytes += tipBytes.length;
  }
  return { source, primaryTip, replicaTip, copiedObjects, copiedBytes };
}

/**
 * The region may publish this tip only when it holds a snapshot on the tip's chain (the
 * base the chain starts at, or a compacted snapshot on it: retention may have deleted the
 * base, in the primary or in the region) and every segment after the oldest such snapshot
 * up to the tip's (all of them, as the primary listed them after the tip was read).
 */
async function checkTipCovered(
  tip: TipDocument,
  primaryObjects: ReadonlyMap<string, ObjectInfo>,
  replica: ObjectStore,
  source: string,
): Promise<void> {
  if (!primaryObjects.has(tip.segmentKey)) {
    throw new TidemarkError(
      'REPLICATION_FAILED',
      `the primary's tip of ${source} names ${tip.segmentKey}, which the primary does not list; the region's tip is not moved`,
      { details: { source, key: tip.segmentKey } },
    );
  }
  const present = await listSizes(replica, [snapshotsPrefix(source), segmentsPrefix(source)]);
  const start = oldestSnapshotLsn(present, source, parseLsn(tip.snapshotLsn), parseLsn(tip.lastLsn));
  if (start === undefined) {
    throw new TidemarkError(
      'REPLICATION_FAILED',
      `no snapshot of ${source} on the tip's chain (from ${tip.snapshotLsn} to ${tip.lastLsn}) is in the region yet; its tip is not published`,
      { details: { source, snapshotLsn: tip.snapshotLsn } },
    );
  }
  for (const o of primaryObjects.values()) {
    if (!o.key.startsWith(segmentsPrefix(source)) || o.key > tip.segmentKey) continue;
    const lastLsn = parseSegmentKey(o.key)?.lastLsn;
    if (lastLsn !== undefined && lastLsn <= start) continue; // before the region's chain: not needed
    if (present.get(o.key)?.size !== o.size) {
      throw new TidemarkError(
        'REPLICATION_FAILED',
        `segment ${o.key} is not in the region yet; its tip is not moved past it`,
        { details: { source, key: o.key } },
      );
    }
  }
}

const SNAPSHOT_MANIFEST = /^([0-9A-F]{16})\/manifest\.json$/;

/** The LSN of the oldest published snapshot (`base/<lsn>/manifest.json`) listed, within [from, to] if given. */
export function oldestSnapshotLsn(
  listing: ReadonlyMap<string, ObjectInfo>,
  source: string,
  from?: Lsn,
  to?: Lsn,
): Lsn | undefined {
  const prefix = snapshotsPrefix(source);
  let oldest: Lsn | undefined;
  for (const key of listing.keys()) {
    if (!key.startsWith(prefix)) continue;
    const m = SNAPSHOT_MANIFEST.exec(key.slice(prefix.length));
    if (!m) continue;
    const lsn = parseLsn(m[1]!);
    if ((from !== undefined && lsn < from) || (to !== undefined && lsn > to)) continue;
    if (oldest === undefined || lsn < oldest) oldest = lsn;
  }
  return oldest;
}

/**
 * Whether the region's collector already let `key` go: a snapshot older than the region's
 * oldest one, or a segment ending at or before it. Table snapshots (`base/tables/...`) are
 * never collected and always copied.
 */
function belowFloor(key: string, source: string, floor: Lsn): boolean {
  const segment = parseSegmentKey(key);
  if (segment) return segment.source === source && segment.lastLsn <= floor;
  const m = /^([0-9A-F]{16})\//.exec(key.slice(snapshotsPrefix(source).length));
  return key.startsWith(snapshotsPrefix(source)) && m !== null && parseLsn(m[1]!) < floor;
}

async function listSizes(store: ObjectStore, prefixes: readonly string[]): Promise<Map<string, ObjectInfo>> {
  const out = new Map<string, ObjectInfo>();
  for (const prefix of prefixes) for await (const o of store.list(prefix)) out.set(o.key, o);
  return out;
}

async function getOrNull(store: ObjectStore, key: string): Promise<Uint8Array | null> {
  try {
    return await store.get(key);
  } catch (err) {
    if (isTidemarkError(err, 'OBJECT_NOT_FOUND')) return null;
    throw err;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array | null): boolean {
  return b !== null && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Runs `work` on up to `limit` items at once; after a failure starts no more, waits for the others, then throws it. */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      try {
        await work(items[next++]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}
