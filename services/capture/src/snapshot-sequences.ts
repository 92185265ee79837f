import type { SnapshotSequence } from '@tidemark/shared';
import type pg from 'pg';

/**
 * The source's sequences for the base snapshot manifest: definition, last value, and the
 * column each belongs to (serial / OWNED BY: pg_depend deptype 'a'; identity: 'i').
 * Logical decoding carries no sequence values, so without this a restored serial column
 * would hand out ids that already exist.
 *
 * Runs in the snapshot transaction; sequences ignore MVCC, so `last_value` is the value at
 * the moment of reading, at or past the snapshot's: never too low. Sequences of extensions
 * and of the system schemas are left out. `last_value` is null when nextval was never
 * called, or when the capture user may not read the sequence (restore then relies on the
 * largest value in the owning column).
 */
export const SEQUENCES_SQL = `
select s.schemaname as schema, s.sequencename as name, format_type(q.seqtypid, null) as data_type,
       s.increment_by::text as increment, s.min_value::text as min_value, s.max_value::text as max_value,
       s.start_value::text as start, s.cache_size::text as cache, s.cycle, s.last_value::text as last_value,
       tn.nspname as owner_schema, t.relname as owner_table, a.attname as owner_column, a.attidentity::text as attidentity
  from pg_sequences s
  join pg_namespace n on n.nspname = s.schemaname
  join pg_class c on c.relnamespace = n.oid and c.relname = s.sequencename and c.relkind = 'S'
  join pg_sequence q on q.seqrelid = c.oid
  left join pg_depend d on d.classid = 'pg_class'::regclass and d.objid = c.oid
        and d.refclassid = 'pg_class'::regclass and d.refobjsubid > 0 and d.deptype in ('a', 'i')
  left join pg_class t on t.oid = d.refobjid
  left join pg_namespace tn on tn.oid = t.relnamespace
  left join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
 where s.schemaname not in ('pg_catalog', 'information_schema', '_tidemark')
   and s.schemaname not like 'pg\\_%'
   and not exists (select 1 from pg_depend e
                    where e.classid = 'pg_class'::regclass and e.objid = c.oid and e.deptype = 'e')
 order by 1, 2`;

interface SequenceRow {
  schema: string;
  name: string;
  data_type: string;
  increment: string;
  min_value: string;
  max_value: string;
  start: string;
  cache: string;
  cycle: boolean;
  last_value: string | null;
  owner_schema: string | null;
  owner_table: string | null;
  owner_column: string | null;
  attidentity: string | null;
}

export async function readSequences(client: pg.Client): Promise<SnapshotSequence[]> {
  const { rows } = await client.query<SequenceRow>(SEQUENCES_SQL);
  return rows.map((r) => ({
    schema: r.schema,
    name: r.name,
    dataType: r.data_type,
    increment: r.increment,
    minValue: r.min_value,
    maxValue: r.max_value,
    start: r.start,
    cache: r.cache,
    cycle: r.cycle,
    lastValue: r.last_value,
    ownedBy:
      r.owner_schema !== null && r.owner_table !== null && r.owner_column !== null
        ? { schema: r.owner_schema, table: r.owner_table, column: r.owner_column }
        : null,
    identity: r.attidentity === 'a' ? 'always' : r.attidentity === 'd' ? 'by default' : null,
  }));
}
