import {
  formatLsn,
  isTidemarkError,
  type Lsn,
  type ObjectStore,
  parseLsn,
  parseSegmentKey,
  type SnapshotManifest,
  sha256Hex,
  snapshotsPrefix,
  TidemarkError,
  type TipDocument,
  tipKey,
} from '@tidemark/shared';

/** Where the journal's hash chain currently ends: the tip segment, or the base snapshot. */
export interface ChainHead {
  readonly sha256: string;
  /** commit LSN of the newest archived record, or the snapshot LSN when none */
  readonly lastLsn: Lsn;
  readonly lastCommitTime: bigint;
  /** hour partition of the newest segment; later segments never file earlier */
  readonly partitionMicros: bigint;
  readonly snapshotLsn: Lsn;
  readonly segmentKey: string | null;
}

export async function readTip(store: ObjectStore, source: string): Promise<TipDocument | undefined> {
  try {
    const doc = JSON.parse(new TextDecoder().decode(await store.get(tipKey(source)))) as TipDocument;
    if (doc.formatVersion !== 1 || doc.source !== source) {
      throw new TidemarkError(
        'CHAIN_BROKEN',
        `tip of source "${source}" is not a format-1 tip for this source`,
      );
    }
    return doc;
  } catch (err) {
    if (isTidemarkError(err, 'OBJECT_NOT_FOUND')) return undefined;
    throw err;
  }
}

export function headFromTip(tip: TipDocument): ChainHead {
  const parsed = parseSegmentKey(tip.segmentKey);
  if (!parsed) throw new TidemarkError('CHAIN_BROKEN', `tip names an invalid segment key: ${tip.segmentKey}`);
  return {
    sha256: tip.sha256,
    lastLsn: parseLsn(tip.lastLsn),
    lastCommitTime: BigInt(tip.lastCommitTime),
    partitionMicros: parsed.partitionHourMicros,
    snapshotLsn: parseLsn(tip.snapshotLsn),
    segmentKey: tip.segmentKey,
  };
}

/** The newest published base snapshot (manifest present): the chain starts at its manifest's SHA-256. */
export async function headFromNewestSnapshot(
  store: ObjectStore,
  source: string,
): Promise<ChainHead | undefined> {
  let newest: string | undefined;
  for await (const obj of store.list(snapshotsPrefix(source))) {
    if (obj.key.endsWith('/manifest.json')) newest = obj.key;
  }
  if (!newest) return undefined;
  const bytes = await store.get(newest);
  const manifest = JSON.parse(new TextDecoder().decode(bytes)) as SnapshotManifest;
  const lsn = parseLsn(manifest.lsn);
  return {
    sha256: sha256Hex(bytes),
    lastLsn: lsn,
    lastCommitTime: BigInt(manifest.snapshotTime),
    partitionMicros: BigInt(manifest.snapshotTime),
    snapshotLsn: lsn,
    segmentKey: null,
  };
}

export function tipDocument(
  source: string,
  head: ChainHead,
  segment: { key: string; firstLsn: Lsn },
): TipDocument {
  return {
    formatVersion: 1,
    source,
    segmentKey: segment.key,
    firstLsn: formatLsn(segment.firstLsn),
    lastLsn: formatLsn(head.lastLsn),
    lastCommitTime: head.lastCommitTime.toString(),
    sha256: head.sha256,
    snapshotLsn: formatLsn(head.snapshotLsn),
    updatedAt: new Date().toISOString(),
  };
}

export async function writeTip(store: ObjectStore, tip: TipDocument): Promise<void> {
  await store.put(tipKey(tip.source), new TextEncoder().encode(`${JSON.stringify(tip, null, 2)}\n`));
}
