import {
  formatLsn,
  type Lsn,
  type ObjectStore,
  openSegment,
  parseLsn,
  putSnapshotTableData,
  type SnapshotManifest,
  type SnapshotTable,
  type SnapshotTableSealing,
  snapshotManifestKey,
  TidemarkError,
  type TipDocument,
} from '@tidemark/shared';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { carriedSequences, definitionsAtReplayEnd, type TableDefinition } from './compaction-definitions.js';
import { checkScratchSchema, readScratchSchema, refreshedSequences } from './compaction-schema-check.js';
import { tablesFromTableSnapshots } from './compaction-table-snapshots.js';
import type { EngineLogger } from './engine-logger.js';
import type { JournalCatalog } from './journal-catalog.js';
import { RestoreLeases, withLease } from './journal-leases.js';
import { forEachParallel } from './parallel.js';
import { executeRestore } from './restore-executor.js';
import type { SnapshotInfo } from './restore-window.js';
import type { ReplayedTable } from './schema-changes.js';
import { dropScratchDatabase, scratchTarget } from './scratch-database.js';
import { fetchVerifiedManifest } from './snapshot-loader.js';
import { qualifiedName, quoteIdent } from './sql-ident.js';
import { connectTarget, type TargetLocation } from './target-database.js';

/**
 * Compaction: a new snapshot at L (the tip's last commit LSN) built from the newest
 * verified snapshot plus the segments after it, without reading the source database.
 *
 * The restore engine itself rebuilds the state at L in a scratch database (so compaction
 * gets every guarantee a restore has: verified segments, exact stop, the same apply code),
 * then each table is copied out with COPY in the same text format capture uses, into new
 * data objects under `<source>/base/<lsn16 of L>/`, and manifest.json is written last. The
 * table definitions and source oids (journal records name relations by source oid) are
 * those the replay's schema-change state ended with (compaction-definitions.ts: tables
 * created by DDL, renamed, altered, dropped), plus tables that came through table
 * snapshots; a restored schema those do not describe fails the compaction
 * (checkScratchSchema) rather than writing a wrong snapshot. The scratch database is
 * dropped whatever happens; on failure the objects already written are deleted.
 *
 * Why not merge in memory: the snapshot plus every change would have to fit in memory (or
 * a hand-made sort/merge on disk); PostgreSQL already is that engine, and the restore path
 * is the one most tested.
 */
export interface CompactOptions {
  readonly id: string;
  readonly store: ObjectStore;
  readonly catalog: JournalCatalog;
  readonly source: string;
  /** server the scratch database is created on (TIDEMARK_COMPACTION_DATABASE_URL) */
  readonly serverUrl: string;
  readonly sealing: SnapshotTableSealing;
  readonly logger: EngineLogger;
  readonly signal?: AbortSignal;
  /** tables copied out at once (default 2) */
  readonly parallelism?: number;
}

export interface CompactionResult {
  /** false when the newest snapshot already is at the tip: nothing to compact */
  readonly created: boolean;
  readonly lsn: string;
  readonly manifestKey: string;
  readonly basedOn: { readonly lsn: string; readonly manifestSha256: string } | null;
  readonly tables: number;
  readonly rows: number;
  /** COPY text bytes, and what the store holds */
  readonly bytes: number;
  readonly storedBytes: number;
  /** transactions replayed on top of the snapshot it was based on */
  readonly transactions: number;
}

export async function compactSnapshot(opts: CompactOptions): Promise<CompactionResult> {
  const { store, catalog, source, logger } = opts;
  const signal = opts.signal ?? new AbortController().signal;
  const state = await catalog.getSourceState(source);
  const tip = state.tip;
  if (!tip || !state.window)
    throw new TidemarkError(
      'SOURCE_NOT_READY',
      `source ${source} has no journal segments yet, so there is nothing to compact; try again once capture has archived transactions`,
      { details: { source } },
    );
  const lsn = parseLsn(tip.lastLsn);
  const newest = state.window.snapshots[state.window.snapshots.length - 1];
  const manifestKey = snapshotManifestKey(source, lsn);
  if ((newest && parseLsn(newest.lsn) >= lsn) || (await store.head(manifestKey))) {
    const at = newest && parseLsn(newest.lsn) >= lsn ? newest : undefined;
    return unchanged(at?.lsn ?? formatLsn(lsn), at?.manifestKey ?? manifestKey);
  }
  const snapshotTime = await anchorCommitTime(store, tip, catalog);

  const into = scratchTarget(opts.serverUrl);
  const log = { compaction: opts.id, source, lsn: formatLsn(lsn), scratch: into.database };
  logger.info(log, 'compaction started: restoring into a scratch database');
  let based: SnapshotInfo | undefined;
  let replayed: readonly ReplayedTable[] | undefined;
  const written: string[] = [];
  try {
    // under a lease like any restore, so the garbage collector leaves what it reads alone
    const outcome = await withLease(
      executeRestore,
      new RestoreLeases(logger),
    )({
      id: opts.id,
      source,
      target: { kind: 'lsn', lsn },
      into,
      store,
      catalog,
      signal,
      logger,
      onProgress: () => {},
      onPrepared: async (_prepared, plan) => {
        based = plan.snapshot;
      },
      onReplayed: (tables) => {
        replayed = tables;
      },
    });
    if (!based || !replayed) throw new Error('unreachable: a finished restore reported its plan and replay');
    if (parseLsn(outcome.restoredLsn) !== lsn)
      throw new TidemarkError(
        'RESTORE_FAILED',
        `compaction of source ${source} restored up to ${outcome.restoredLsn}, not ${formatLsn(lsn)}: the journal changed underneath it`,
        { details: { source, lsn: formatLsn(lsn), restoredLsn: outcome.restoredLsn } },
      );
    const previous = await fetchVerifiedManifest(store, based);
    signal.throwIfAborted();
    const described = replayed;
    const tables = await copyTablesOut(opts, into, previous, described, lsn, written);
    const sequences = previous.sequences
      ? await withScratch(into, (c) =>
          refreshedSequences(c, carriedSequences(previous.sequences ?? [], previous.tables, described)),
        )
      : undefined;
    const { tables: _t, kind: _k, basedOn: _b, chainAnchor: _c, sequences: _s, ...carried } = previous;
    const manifest: SnapshotManifest = {
      ...carried,
      lsn: formatLsn(lsn),
      snapshotTime: snapshotTime.toString(),
      createdAt: new Date().toISOString(),
      tables,
      ...(sequences ? { sequences } : {}),
      kind: 'compacted',
      basedOn: { lsn: formatLsn(parseLsn(based.lsn)), manifestSha256: based.sha256 },
      chainAnchor: { segmentKey: tip.segmentKey, sha256: tip.sha256, lastLsn: formatLsn(lsn) },
    };
    signal.throwIfAborted();
    // written last: publishes the snapshot
    await store.put(manifestKey, new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`), {
      ifNoneMatch: true,
    });
    const sum = (f: (t: SnapshotTable) => number) => tables.reduce((s, t) => s + f(t), 0);
    const result: CompactionResult = {
      created: true,
      lsn: manifest.lsn,
      manifestKey,
      basedOn: manifest.basedOn ?? null,
      tables: tables.filter((t) => t.dataKey !== null).length,
      rows: sum((t) => t.rows),
      bytes: sum((t) => t.bytes),
      storedBytes: sum((t) => (t.dataKey === null ? 0 : (t.storedBytes ?? t.bytes))),
      transactions: outcome.transactions,
    };
    logger.info({ ...log, ...result }, 'compaction snapshot published');
    return result;
  } catch (err) {
    await Promise.all(written.map((k) => store.delete(k).catch(() => {})));
    throw err;
  } finally {
    await dropScratchDatabase(into).catch((err: unknown) =>
      logger.warn({ ...log, err }, `could not drop scratch database ${into.database}; drop it yourself`),
    );
  }
}

function unchanged(lsn: string, manifestKey: string): CompactionResult {
  return {
    created: false,
    lsn,
    manifestKey,
    basedOn: null,
    tables: 0,
    rows: 0,
    bytes: 0,
    storedBytes: 0,
    transactions: 0,
  };
}

/**
 * The snapshot's time: the largest commit time in the anchor segment. Commit times can be
 * a few µs out of LSN order, and a time target at or after this one then reaches L when
 * replayed from the older snapshot too, so both snapshots answer such a target alike.
 */
async function anchorCommitTime(
  store: ObjectStore,
  tip: TipDocument,
  catalog: JournalCatalog,
): Promise<bigint> {
  const segment = await openSegment(await store.get(tip.segmentKey), tip.segmentKey, { keys: catalog.keys });
  if (segment.sha256 !== tip.sha256)
    throw new TidemarkError(
      'CHAIN_BROKEN',
      `journal segment ${tip.segmentKey} is not the one the tip names (SHA-256 ${segment.sha256}, tip says ${tip.sha256})`,
      { details: { key: tip.segmentKey, kind: 'tip-hash' } },
    );
  let max = BigInt(tip.lastCommitTime);
  for (const r of segment.records) if (r.commitTime > max) max = r.commitTime;
  return max;
}

async function copyTablesOut(
  opts: CompactOptions,
  into: TargetLocation,
  previous: SnapshotManifest,
  replayed: readonly ReplayedTable[],
  lsn: Lsn,
  written: string[],
): Promise<SnapshotTable[]> {
  // the schema as of L, then tables that came through table snapshots up to L
  const definitions = await withScratch(into, async (c): Promise<TableDefinition[]> => {
    const scratch = await readScratchSchema(c);
    const described = definitionsAtReplayEnd(replayed, scratch);
    const added = await tablesFromTableSnapshots(opts.store, opts.source, lsn, described, c);
    const all = [...described, ...added];
    checkScratchSchema(scratch, all, previous.lsn);
    return all;
  });
  // partitioned tables hold no rows of their own
  const out: SnapshotTable[] = definitions.map((t) => ({
    ...t,
    dataKey: null,
    rows: 0,
    bytes: 0,
    sha256: null,
    xxh64: null,
  }));
  const work = definitions.map((t, index) => ({ t, index })).filter(({ t }) => t.kind === 'table');
  const clients: (pg.Client | undefined)[] = [];
  try {
    await forEachParallel(work, opts.parallelism ?? 2, async ({ t, index }, w) => {
      opts.signal?.throwIfAborted();
      clients[w] ??= await connectTarget(into);
      const client = clients[w];
      // the columns as of L, in the source's order (a snapshot restore COPYs them back so)
      const cols = t.columns.map((c) => quoteIdent(c.name)).join(', ');
      const stream = client.query(
        copyTo(`COPY ${qualifiedName(t.schema, t.table)}${cols ? ` (${cols})` : ''} TO STDOUT`),
      );
      try {
        const data = await putSnapshotTableData(
          opts.store,
          { source: opts.source, lsn, index },
          stream,
          opts.sealing,
        );
        if (data.dataKey) written.push(data.dataKey);
        out[index] = { ...t, ...data };
      } catch (err) {
        stream.destroy();
        throw err;
      }
    });
  } finally {
    await Promise.all(clients.map((c) => c?.end().catch(() => {})));
  }
  return out;
}

async function withScratch<T>(into: TargetLocation, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectTarget(into);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}
