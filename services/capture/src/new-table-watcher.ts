import {
  type Change,
  type ObjectStore,
  parseTableSnapshotMarker,
  type SnapshotManifest,
  type SnapshotTableSealing,
  TABLE_SNAPSHOT_MESSAGE_PREFIX,
  type TransactionRecord,
  tableSnapshotsPrefix,
} from '@tidemark/shared';
import type pg from 'pg';
import type { CaptureLogger } from './capture-logger.js';
import { ddlCaptureState } from './ddl-capture.js';
import { connectSql } from './pg-connection.js';
import { takeTableSnapshot } from './table-snapshot.js';

/**
 * Takes a table snapshot (table-snapshot.ts) of every table that joins the publication after
 * the base snapshot: such a table's existing rows never travel through the slot. It polls
 * the publication's tables (leaf partitions included) every `intervalMs` and compares their
 * oids with the base snapshot's and the table snapshots already in the store.
 *
 * When DDL capture is installed and the publication is FOR ALL TABLES, a new table is
 * created by the replayed DDL and its rows arrive through the slot, so nothing is taken
 * (the only tables that can join the publication are new, empty ones).
 */
export interface NewTableWatcherOptions {
  readonly sourceUrl: string;
  readonly source: string;
  readonly publicationName: string;
  readonly store: ObjectStore;
  readonly logger: CaptureLogger;
  readonly sealing: SnapshotTableSealing;
  /** key of the base snapshot's manifest.json: its tables are known */
  readonly manifestKey: string;
  readonly intervalMs: number;
}

export class NewTableWatcher {
  private known: Set<number> | undefined;
  /** snapshotted, marker not seen in the stream yet: not taken again meanwhile */
  private readonly taking = new Set<number>();
  /** false while DDL capture and a FOR ALL TABLES publication make table snapshots unneeded */
  private active = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly opts: NewTableWatcherOptions) {}

  /** Loads what is known (base snapshot, table snapshots) and whether to act; before streaming starts. */
  async init(): Promise<void> {
    this.known ??= await this.loadKnown();
    const client = await connectSql(this.opts.sourceUrl);
    try {
      this.active = await this.needed(client);
    } finally {
      await client.end().catch(() => {});
    }
  }

  start(): void {
    if (this.opts.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => this.kick(), this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /**
   * The transaction as it goes to the journal, in commit order. A table snapshot's marker
   * makes its table known from that point on; changes to a published table not known yet
   * are left out (and a check is started): the table snapshot taken next holds their
   * effect, and the restore creates the table at its marker. So the journal never has
   * changes to such a table before the restore can have it.
   */
  filter(tx: TransactionRecord): TransactionRecord {
    const known = this.known;
    if (!known) return tx;
    let dropped = false;
    const isKnown = (rel: number): boolean => {
      const oid = tx.relations[rel]?.oid;
      return oid === undefined || known.has(oid);
    };
    const changes: Change[] = [];
    for (const c of tx.changes) {
      if (c.op === 'message') {
        if (c.prefix === TABLE_SNAPSHOT_MESSAGE_PREFIX) {
          const marker = parseTableSnapshotMarker(c.content, this.opts.source);
          if (marker) {
            known.add(marker.oid);
            this.taking.delete(marker.oid);
          }
        }
        changes.push(c);
      } else if (!this.active) {
        changes.push(c);
      } else if (c.op === 'truncate') {
        const rels = c.rels.filter(isKnown);
        if (rels.length < c.rels.length) dropped = true;
        if (rels.length > 0) changes.push(rels.length === c.rels.length ? c : { ...c, rels });
      } else if (isKnown(c.rel)) {
        changes.push(c);
      } else {
        dropped = true;
      }
    }
    if (!dropped) return tx;
    this.kick();
    return { ...tx, changes };
  }

  /** Runs a check now, or right after the one running. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.check()
      .then(() => undefined)
      .catch((err: unknown) =>
        this.opts.logger.warn({ err }, 'checking the publication for new tables failed'),
      )
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** One round: snapshots every published table not known yet; answers the tables taken. */
  async check(): Promise<string[]> {
    this.known ??= await this.loadKnown();
    const known = this.known;
    const client = await connectSql(this.opts.sourceUrl, (err) =>
      this.opts.logger.warn({ err }, 'new table check connection error'),
    );
    let candidates: { oid: number; schema: string; table: string }[];
    try {
      this.active = await this.needed(client);
      if (!this.active) return [];
      const { rows } = await client.query<{ oid: string; schema: string; table: string }>(
        // a plain table has no partition tree (pg_partition_tree answers nothing): it is its own leaf
        `select distinct c.oid::int8::text as oid, n.nspname as schema, c.relname as table
           from pg_publication_tables pt
           join pg_namespace pn on pn.nspname = pt.schemaname
           join pg_class pc on pc.relnamespace = pn.oid and pc.relname = pt.tablename
           left join lateral pg_partition_tree(pc.oid) t on pc.relkind = 'p'
           join pg_class c on c.oid = coalesce(t.relid, pc.oid)
           join pg_namespace n on n.oid = c.relnamespace
          where pt.pubname = $1 and c.relkind = 'r'`,
        [this.opts.publicationName],
      );
      candidates = rows
        .map((r) => ({ oid: Number(r.oid), schema: r.schema, table: r.table }))
        .filter((r) => !known.has(r.oid) && !this.taking.has(r.oid));
    } finally {
      await client.end().catch(() => {});
    }
    const taken: string[] = [];
    for (const t of candidates) {
      if (this.stopped) break;
      const result = await takeTableSnapshot({
        sourceUrl: this.opts.sourceUrl,
        source: this.opts.source,
        publicationName: this.opts.publicationName,
        store: this.opts.store,
        logger: this.opts.logger,
        sealing: this.opts.sealing,
        schema: t.schema,
        table: t.table,
      });
      // known once its marker passes through the stream (filter): changes committed before
      // the marker must still be left out
      this.taking.add(result.marker.oid);
      taken.push(`${t.schema}.${t.table}`);
    }
    return taken;
  }

  private async needed(client: pg.Client): Promise<boolean> {
    const pub = await client.query<{ all_tables: boolean }>(
      'select puballtables as all_tables from pg_publication where pubname = $1',
      [this.opts.publicationName],
    );
    return !(pub.rows[0]?.all_tables && (await ddlCaptureState(client)) !== 'missing');
  }

  private async loadKnown(): Promise<Set<number>> {
    const manifest = JSON.parse(
      new TextDecoder().decode(await this.opts.store.get(this.opts.manifestKey)),
    ) as SnapshotManifest;
    const known = new Set(manifest.tables.map((t) => t.oid));
    for await (const o of this.opts.store.list(tableSnapshotsPrefix(this.opts.source))) {
      const m = /-(\d+)\/manifest\.json$/.exec(o.key);
      if (m) known.add(Number(m[1]));
    }
    return known;
  }
}
