import {
  type Change,
  encodeRecord,
  formatLsn,
  type KeyProvider,
  type Lsn,
  type ObjectStore,
  type RelationInfo,
  type SegmentCompression,
  type SnapshotManifest,
  type SnapshotTable,
  sealSegment,
  segmentKey,
  sha256Hex,
  snapshotManifestKey,
  snapshotTableKey,
  sourceRegistryKey,
  type TipDocument,
  type TransactionRecord,
  tipKey,
} from '@tidemark/shared';
import { encodeCopyRow } from '../copy-text.js';

/**
 * Writes a journal into a store the way capture and the journal service do: registry
 * entry, base snapshot (table data, manifest last), segments chained from the manifest's
 * SHA-256, tip. For engine tests and the API's tests; not part of the engine's API.
 */
export interface FixtureTable extends Partial<Omit<SnapshotTable, 'schema' | 'table' | 'columns'>> {
  readonly schema: string;
  readonly table: string;
  readonly columns: readonly {
    name: string;
    type: string;
    typeOid?: number;
    notNull?: boolean;
    default?: string | null;
    attnum?: number;
  }[];
  /** snapshot rows (text values or null), for plain tables */
  readonly data?: readonly (readonly (string | null)[])[];
}

export interface WrittenSnapshot {
  readonly manifest: SnapshotManifest;
  readonly manifestKey: string;
  readonly sha256: string;
  readonly lsn: Lsn;
}

export async function writeSnapshot(
  store: ObjectStore,
  opts: {
    source: string;
    lsn: Lsn;
    snapshotTime: bigint;
    tables: readonly FixtureTable[];
    sequences?: SnapshotManifest['sequences'];
  },
): Promise<WrittenSnapshot> {
  await store.put(
    sourceRegistryKey(opts.source),
    json({ name: opts.source, created: new Date(0).toISOString() }),
  );
  const tables: SnapshotTable[] = [];
  let oid = 16384;
  for (const [i, t] of opts.tables.entries()) {
    const kind = t.kind ?? 'table';
    let dataKey: string | null = null;
    let sha: string | null = null;
    let bytes = 0;
    if (kind === 'table' && t.data) {
      const body = new TextEncoder().encode(t.data.map((r) => encodeCopyRow(r)).join(''));
      dataKey = snapshotTableKey(opts.source, opts.lsn, i);
      sha = sha256Hex(body);
      bytes = body.byteLength;
      await store.put(dataKey, body);
    }
    tables.push({
      oid: oid++,
      kind,
      primaryKey: null,
      replicaIdentity: 'default',
      partitionKey: null,
      partitionOf: null,
      xxh64: null,
      ...stripData(t),
      columns: t.columns.map((c) => ({
        name: c.name,
        type: c.type,
        typeOid: c.typeOid ?? 25,
        notNull: c.notNull ?? false,
        default: c.default ?? null,
        ...(c.attnum === undefined ? {} : { attnum: c.attnum }),
      })),
      dataKey,
      rows: t.data?.length ?? 0,
      bytes,
      sha256: sha,
    });
  }
  const manifest: SnapshotManifest = {
    formatVersion: 1,
    source: opts.source,
    lsn: formatLsn(opts.lsn),
    snapshotTime: String(opts.snapshotTime),
    createdAt: new Date(Number(opts.snapshotTime / 1000n)).toISOString(),
    serverVersion: 150000,
    tables,
    ...(opts.sequences ? { sequences: opts.sequences } : {}),
  };
  const manifestKey = snapshotManifestKey(opts.source, opts.lsn);
  const body = json(manifest);
  await store.put(manifestKey, body);
  return { manifest, manifestKey, sha256: sha256Hex(body), lsn: opts.lsn };
}

export interface WrittenSegment {
  readonly key: string;
  readonly sha256: string;
  readonly bytes: Uint8Array;
}

/**
 * Writes `groups` as consecutive segments (one per group), chained from `prevSha256`, and
 * moves the tip to the last one unless `tip` is false.
 */
export async function writeSegments(
  store: ObjectStore,
  opts: {
    source: string;
    snapshotLsn: Lsn;
    prevSha256: string;
    groups: readonly (readonly TransactionRecord[])[];
    tip?: boolean;
    prevPartitionMicros?: bigint;
    /** default none: plain segments */
    compression?: SegmentCompression;
    /** encrypt each segment under a data key wrapped by this provider */
    keys?: KeyProvider;
  },
): Promise<WrittenSegment[]> {
  let prev = opts.prevSha256;
  let partition = opts.prevPartitionMicros ?? 0n;
  const out: WrittenSegment[] = [];
  for (const txs of opts.groups) {
    const first = txs[0];
    const last = txs[txs.length - 1];
    if (!first || !last) throw new Error('a segment needs at least one record');
    const encoded = await sealSegment(
      {
        source: opts.source,
        prevSha256: prev,
        createdAt: new Date().toISOString(),
        records: txs.map((tx) => ({
          payload: encodeRecord(tx),
          commitLsn: tx.commitLsn,
          commitTime: tx.commitTime,
        })),
      },
      {
        ...(opts.compression ? { compression: opts.compression } : {}),
        ...(opts.keys ? { keys: opts.keys } : {}),
      },
    );
    const hour = (first.commitTime / 3_600_000_000n) * 3_600_000_000n;
    partition = hour > partition ? hour : partition;
    const key = segmentKey(opts.source, partition, first.commitLsn, last.commitLsn);
    await store.put(key, encoded.bytes);
    out.push({ key, sha256: encoded.sha256, bytes: encoded.bytes });
    prev = encoded.sha256;
    if (opts.tip !== false) {
      const tip: TipDocument = {
        formatVersion: 1,
        source: opts.source,
        segmentKey: key,
        firstLsn: formatLsn(first.commitLsn),
        lastLsn: formatLsn(last.commitLsn),
        lastCommitTime: String(last.commitTime),
        sha256: encoded.sha256,
        snapshotLsn: formatLsn(opts.snapshotLsn),
        updatedAt: new Date().toISOString(),
      };
      await store.put(tipKey(opts.source), json(tip));
    }
  }
  return out;
}

/** A relation description as capture would put it in a record. */
export function relationOf(
  oid: number,
  schema: string,
  table: string,
  columns: readonly (string | [name: string, key: boolean])[],
  replicaIdentity: RelationInfo['replicaIdentity'] = 'default',
): RelationInfo {
  return {
    oid,
    schema,
    table,
    replicaIdentity,
    columns: columns.map((c) => {
      const [name, key] = typeof c === 'string' ? [c, false] : c;
      return { name, typeOid: 25, typeMod: -1, key: replicaIdentity === 'full' ? true : key };
    }),
  };
}

/** Builds consecutive transactions: LSNs and times advance by `step` per record. */
export class TxBuilder {
  private xid = 1000;

  constructor(
    private readonly source: string,
    private lsn: Lsn,
    private time: bigint,
  ) {}

  tx(
    relations: readonly RelationInfo[],
    changes: readonly Change[],
    opts: { lsnStep?: bigint; timeStep?: bigint } = {},
  ): TransactionRecord {
    this.lsn += opts.lsnStep ?? 0x100n;
    this.time += opts.timeStep ?? 1_000_000n;
    return {
      source: this.source,
      xid: this.xid++,
      commitLsn: this.lsn,
      endLsn: this.lsn + 0x30n,
      commitTime: this.time,
      relations,
      changes,
    };
  }
}

function stripData(t: FixtureTable): Omit<FixtureTable, 'data' | 'columns'> {
  const { data: _data, columns: _columns, ...rest } = t;
  return rest;
}

function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, null, 2));
}
