import { type Lsn, lsnToHex16, parseLsn } from './lsn.js';
import { snapshotPrefix, snapshotsPrefix } from './object-layout.js';
import type {
  SnapshotKind,
  SnapshotManifest,
  SnapshotTable,
  SnapshotTableEncoding,
} from './snapshot-manifest.js';

/**
 * The contract between snapshots and the journal's hash chain, for every reader (restore
 * planner, verification, retention): pure functions of a manifest and its key.
 *
 * - A base snapshot (kind absent or 'base') starts the chain: the first segment after it
 *   links to the SHA-256 of its manifest.json bytes.
 * - A compacted snapshot at LSN L sits inside the chain: it holds every commit up to L,
 *   the last commit of segment `chainAnchor.segmentKey`, and the next segment links to
 *   that segment's SHA-256 (`chainAnchor.sha256`), exactly as it did before.
 */
export interface ChainAnchor {
  /** the prevSha256 the first segment after the snapshot must carry */
  readonly sha256: string;
  /** the snapshot's LSN: segments after it start later */
  readonly lsn: Lsn;
}

export function snapshotKindOf(manifest: Pick<SnapshotManifest, 'kind'>): SnapshotKind {
  return manifest.kind ?? 'base';
}

/** Where the chain continues from this snapshot; `manifestSha256` is the SHA-256 of its manifest.json bytes. */
export function snapshotChainAnchor(
  manifest: Pick<SnapshotManifest, 'lsn' | 'kind' | 'chainAnchor'>,
  manifestSha256: string,
): ChainAnchor {
  const lsn = parseLsn(manifest.lsn);
  if (snapshotKindOf(manifest) === 'compacted') {
    if (!manifest.chainAnchor)
      throw new Error(`compacted snapshot at ${manifest.lsn} has no chainAnchor (validate manifests first)`);
    return { sha256: manifest.chainAnchor.sha256, lsn };
  }
  return { sha256: manifestSha256, lsn };
}

export function tableEncodingOf(table: Pick<SnapshotTable, 'encoding'>): SnapshotTableEncoding {
  return table.encoding ?? 'copy-text';
}

/** Size of a table's data object in the store (what a restore downloads). */
export function storedBytesOf(table: Pick<SnapshotTable, 'bytes' | 'storedBytes' | 'dataKey'>): number {
  if (table.dataKey === null) return 0;
  return table.storedBytes ?? table.bytes;
}

const MANIFEST_REST = /^([0-9A-F]{16})\/manifest\.json$/;

/** The LSN of `<source>/base/<lsnHex16>/manifest.json`, or undefined for any other key. */
export function parseSnapshotManifestKey(source: string, key: string): Lsn | undefined {
  const prefix = snapshotsPrefix(source);
  if (!key.startsWith(prefix)) return undefined;
  const m = MANIFEST_REST.exec(key.slice(prefix.length));
  return m ? parseLsn(m[1]!) : undefined;
}

/** The snapshot manifests among listed keys (e.g. everything under `<source>/base/`), oldest first. */
export function snapshotManifestKeys(
  source: string,
  keys: Iterable<string>,
): { readonly key: string; readonly lsn: Lsn }[] {
  const out: { key: string; lsn: Lsn }[] = [];
  for (const key of keys) {
    const lsn = parseSnapshotManifestKey(source, key);
    if (lsn !== undefined) out.push({ key, lsn });
  }
  return out.sort((a, b) => (a.lsn < b.lsn ? -1 : a.lsn > b.lsn ? 1 : 0));
}

/** Key of a table's data object: `.copy` for plain COPY text, `.tmb` for tmblock-v1. */
export function snapshotTableDataKey(
  source: string,
  lsn: Lsn,
  index: number,
  encoding: SnapshotTableEncoding,
): string {
  const ext = encoding === 'copy-text' ? 'copy' : 'tmb';
  return `${snapshotPrefix(source, lsn)}tables/${String(index).padStart(4, '0')}.${ext}`;
}

/** Every object key a snapshot owns besides its manifest (what retention deletes with it). */
export function snapshotDataKeys(manifest: Pick<SnapshotManifest, 'tables'>): string[] {
  return manifest.tables.flatMap((t) => (t.dataKey === null ? [] : [t.dataKey]));
}

/** `<lsnHex16>`: the directory name of a snapshot at `lsn` */
export function snapshotDirName(lsn: Lsn): string {
  return lsnToHex16(lsn);
}
