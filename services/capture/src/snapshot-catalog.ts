import type { ReplicaIdentity, SnapshotColumn, SnapshotIndex } from '@tidemark/shared';
import type pg from 'pg';

/**
 * Reads what a base snapshot needs to know about the published tables from the catalogs.
 * Runs inside the snapshot transaction, so the catalog state matches the data exactly.
 *
 * Partitioned tables: the publication uses publish_via_partition_root, so journal records
 * name the root. The snapshot lists the root (kind 'partitioned', no data), every
 * intermediate partitioned table, and every leaf partition (kind 'table', `partitionOf` set)
 * and copies the data from each leaf. Copying per leaf keeps each table's COPY stream small
 * and lets a restore rebuild the same tree and load leaves in parallel.
 */
export interface CatalogTable {
  readonly oid: number;
  readonly schema: string;
  readonly table: string;
  readonly kind: 'table' | 'partitioned';
  readonly replicaIdentity: ReplicaIdentity;
  readonly partitionKey: string | null;
  readonly partitionOf: { readonly schema: string; readonly table: string; readonly bound: string } | null;
  readonly columns: readonly SnapshotColumn[];
  readonly primaryKey: readonly string[] | null;
  readonly indexes: readonly SnapshotIndex[];
}

const IDENTITY: Record<string, ReplicaIdentity> = { d: 'default', n: 'nothing', f: 'full', i: 'index' };

/** Published tables and, for partitioned ones, their whole partition tree: parents before children. */
export async function readPublishedTables(client: pg.Client, publication: string): Promise<CatalogTable[]> {
  const published = await client.query<{ oid: string }>(
    `select c.oid::int8 as oid
       from pg_publication_tables pt
       join pg_namespace n on n.nspname = pt.schemaname
       join pg_class c on c.relnamespace = n.oid and c.relname = pt.tablename
      where pt.pubname = $1
      order by pt.schemaname, pt.tablename`,
    [publication],
  );
  const ordered: number[] = [];
  const seen = new Set<number>();
  // int8 arrives as a string from node-postgres: convert explicitly (oids fit a JS number)
  for (const { oid } of published.rows) {
    const tree = await client.query<{ relid: string }>(
      // a plain table is its own one-node tree; order by level puts parents before partitions
      `select relid::oid::int8 as relid from pg_partition_tree($1::oid) t
         join pg_class c on c.oid = t.relid
         join pg_namespace n on n.oid = c.relnamespace
        order by t.level, n.nspname, c.relname`,
      [oid],
    );
    const members = tree.rows.length > 0 ? tree.rows.map((r) => Number(r.relid)) : [Number(oid)];
    for (const relid of members) {
      if (!seen.has(relid)) {
        seen.add(relid);
        ordered.push(relid);
      }
    }
  }
  if (ordered.length === 0) return [];

  // one client runs one query at a time: sequential on purpose
  const rels = await client.query<{
    oid: string;
    schema: string;
    table: string;
    relkind: string;
    relreplident: string;
    partkey: string | null;
    bound: string | null;
    parent_schema: string | null;
    parent_table: string | null;
  }>(
    `select c.oid::int8::text as oid, n.nspname as schema, c.relname as table, c.relkind, c.relreplident,
              case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end as partkey,
              case when c.relispartition then pg_get_expr(c.relpartbound, c.oid) end as bound,
              pn.nspname as parent_schema, pc.relname as parent_table
         from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         left join pg_inherits i on c.relispartition and i.inhrelid = c.oid
         left join pg_class pc on pc.oid = i.inhparent
         left join pg_namespace pn on pn.oid = pc.relnamespace
        where c.oid = any($1::oid[])`,
    [ordered],
  );
  const cols = await client.query<{
    relid: string;
    name: string;
    type: string;
    type_oid: string;
    not_null: boolean;
    default: string | null;
    attnum: number;
  }>(
    // generated columns are left out: pgoutput v1 does not send them and COPY TO skips them
    `select a.attrelid::int8::text as relid, a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
              a.atttypid::int8::text as type_oid, a.attnotnull as not_null, pg_get_expr(d.adbin, d.adrelid) as default,
              a.attnum::int4 as attnum
         from pg_attribute a
         left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
        order by a.attrelid, a.attnum`,
    [ordered],
  );
  const pks = await client.query<{ relid: string; name: string }>(
    `select x.indrelid::int8::text as relid, a.attname as name
         from pg_index x
         cross join lateral unnest(x.indkey) with ordinality as k(attnum, ord)
         join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
        where x.indrelid = any($1::oid[]) and x.indisprimary
        order by x.indrelid, k.ord`,
    [ordered],
  );

  // secondary indexes (the primary key is rebuilt from primaryKey); restore builds them last
  const indexes = await client.query<{ relid: string; name: string; definition: string }>(
    `select x.indrelid::int8::text as relid, i.relname as name, pg_get_indexdef(x.indexrelid) as definition
         from pg_index x join pg_class i on i.oid = x.indexrelid
        where x.indrelid = any($1::oid[]) and not x.indisprimary
        order by x.indrelid, i.relname`,
    [ordered],
  );

  const columnsOf = groupBy(cols.rows, (r) => r.relid);
  const indexesOf = groupBy(indexes.rows, (r) => r.relid);
  const pkOf = groupBy(pks.rows, (r) => r.relid);
  const relOf = new Map(rels.rows.map((r) => [r.oid, r]));
  return ordered.map((oid): CatalogTable => {
    const r = relOf.get(String(oid));
    if (!r) throw new Error(`relation ${oid} vanished from the catalog during the snapshot`);
    const pk = pkOf.get(r.oid);
    return {
      oid,
      schema: r.schema,
      table: r.table,
      kind: r.relkind === 'p' ? 'partitioned' : 'table',
      replicaIdentity: IDENTITY[r.relreplident] ?? 'default',
      partitionKey: r.partkey,
      partitionOf:
        r.parent_schema !== null && r.parent_table !== null && r.bound !== null
          ? { schema: r.parent_schema, table: r.parent_table, bound: r.bound }
          : null,
      columns: (columnsOf.get(r.oid) ?? []).map((c) => ({
        name: c.name,
        type: c.type,
        typeOid: Number(c.type_oid),
        notNull: c.not_null,
        default: c.default,
        attnum: c.attnum,
      })),
      primaryKey: pk ? pk.map((p) => p.name) : null,
      indexes: (indexesOf.get(r.oid) ?? []).map((x) => ({ name: x.name, definition: x.definition })),
    };
  });
}

function groupBy<T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = out.get(k);
    if (list) list.push(row);
    else out.set(k, [row]);
  }
  return out;
}
