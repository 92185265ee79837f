import { formatLsn, formatTimestampMicros, parseLsn, snapshotKindOf, storedBytesOf } from '@tidemark/shared';
import type { JournalCatalog } from './journal-catalog.js';

/** What GET /v1/sources/:source/snapshots shows of each snapshot. */
export interface SnapshotView {
  readonly lsn: string;
  readonly kind: 'base' | 'compacted';
  /** the instant it holds: RFC 3339 with µs */
  readonly time: string;
  readonly createdAt: string;
  readonly manifestKey: string;
  /** SHA-256 of manifest.json */
  readonly sha256: string;
  readonly tables: number;
  readonly rows: number;
  /** COPY text bytes, and what the store holds */
  readonly bytes: number;
  readonly storedBytes: number;
  readonly encrypted: boolean;
  /** whether it lies on the journal's chain, so restores can start from it */
  readonly usable: boolean;
  readonly basedOn: { readonly lsn: string; readonly manifestSha256: string } | null;
  readonly chainAnchor: {
    readonly segmentKey: string;
    readonly sha256: string;
    readonly lastLsn: string;
  } | null;
}

/** The snapshots of a source with a valid manifest, oldest first. Throws UNKNOWN_SOURCE. */
export async function listSnapshotViews(catalog: JournalCatalog, source: string): Promise<SnapshotView[]> {
  const state = await catalog.getSourceState(source);
  const usable = new Set(state.window?.snapshots.map((s) => s.manifestKey) ?? []);
  return state.snapshots.map((s) => {
    const data = s.tables.filter((t) => t.dataKey !== null);
    return {
      lsn: formatLsn(parseLsn(s.lsn)),
      kind: snapshotKindOf(s),
      time: formatTimestampMicros(BigInt(s.snapshotTime)),
      createdAt: s.createdAt,
      manifestKey: s.manifestKey,
      sha256: s.sha256,
      tables: data.length,
      rows: data.reduce((n, t) => n + t.rows, 0),
      bytes: data.reduce((n, t) => n + t.bytes, 0),
      storedBytes: data.reduce((n, t) => n + storedBytesOf(t), 0),
      encrypted: data.some((t) => t.encrypted === true),
      usable: usable.has(s.manifestKey),
      basedOn: s.basedOn ?? null,
      chainAnchor: s.chainAnchor ?? null,
    };
  });
}
