import { MESSAGE_PREFIX } from '@tidemark/shared';

/**
 * The event triggers that put schema changes into the replication stream, as SQL.
 *
 * At `ddl_command_end` (and `sql_drop`) a trigger writes a transactional logical message
 * (`tidemark.ddl`) in the same transaction as the DDL, so it sits at the exact place in
 * commit order where the change happened, between the row changes before and after it.
 *
 * The message describes the affected tables' state AFTER the command — oid, names,
 * columns with their attnum, primary key, replica identity, secondary indexes — rather
 * than carrying the statement to re-run: re-executing arbitrary statement text (which may
 * hold several statements, or depend on search_path and functions of the source) is
 * fragile, while diffing a described state against the restore's own knowledge of the
 * table is not. Column identity by attnum tells a rename from a drop and an add; table
 * identity by oid tells a rename from a new table. The statement text travels along for
 * people (audit) only.
 *
 * The functions are SECURITY DEFINER (owned by the superuser who installed them) so a
 * role without the REPLICATION attribute may still run DDL; they skip everything when
 * wal_level is not logical (nothing could decode the message), and ignore temporary and
 * unlogged tables (never replicated), system schemas and Tidemark's own schema.
 */
export const DDL_CAPTURE_SCHEMA = '_tidemark';
/** bumped whenever the SQL below changes, so capture and `tidemark install` know to replace it */
export const DDL_CAPTURE_VERSION = 1;
export const DDL_EVENT_TRIGGERS = ['tidemark_ddl_command_end', 'tidemark_sql_drop'] as const;

const IGNORED_SCHEMAS = `n.nspname not in ('${DDL_CAPTURE_SCHEMA}', 'pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp)'`;

const TABLE_STATE = `
create or replace function ${DDL_CAPTURE_SCHEMA}.ddl_table_state(rel oid) returns jsonb
language sql stable set search_path = pg_catalog, pg_temp as $fn$
  select jsonb_build_object(
    'oid', c.oid::int8,
    'schema', n.nspname,
    'name', c.relname,
    'kind', case c.relkind when 'p' then 'partitioned' else 'table' end,
    'replicaIdentity', case c.relreplident when 'n' then 'nothing' when 'f' then 'full' when 'i' then 'index' else 'default' end,
    'partitionKey', case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end,
    'partitionOf', (select jsonb_build_object('schema', pn.nspname, 'table', pc.relname, 'bound', pg_get_expr(c.relpartbound, c.oid))
                      from pg_inherits i join pg_class pc on pc.oid = i.inhparent join pg_namespace pn on pn.oid = pc.relnamespace
                     where c.relispartition and i.inhrelid = c.oid),
    -- generated columns are left out, as in the base snapshot (pgoutput v1 does not send them)
    'columns', coalesce((select jsonb_agg(jsonb_build_object(
                   'attnum', a.attnum, 'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                   'typeOid', a.atttypid::int8, 'notNull', a.attnotnull, 'default', pg_get_expr(d.adbin, d.adrelid))
                   order by a.attnum)
                 from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
                where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''), '[]'::jsonb),
    'primaryKey', (select jsonb_agg(a.attname order by k.ord)
                     from pg_index x cross join lateral unnest(x.indkey) with ordinality as k(attnum, ord)
                     join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
                    where x.indrelid = c.oid and x.indisprimary),
    'indexes', coalesce((select jsonb_agg(jsonb_build_object('name', i.relname, 'definition', pg_get_indexdef(x.indexrelid)) order by i.relname)
                 from pg_index x join pg_class i on i.oid = x.indexrelid
                where x.indrelid = c.oid and not x.indisprimary), '[]'::jsonb))
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.oid = rel
$fn$`;

const ON_COMMAND_END = `
create or replace function ${DDL_CAPTURE_SCHEMA}.on_ddl_command_end() returns event_trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
declare
  tables jsonb;
begin
  if current_setting('wal_level') <> 'logical' then return; end if;
  -- the tables a command touched: itself, or the table of an index or constraint it touched
  with touched as (
    select case when c.relkind in ('i', 'I') then (select x.indrelid from pg_index x where x.indexrelid = c.oid)
                else c.oid end as relid
      from pg_event_trigger_ddl_commands() e
      join pg_class c on c.oid = e.objid
     where e.classid = 'pg_catalog.pg_class'::regclass and not e.in_extension
    union
    select k.conrelid from pg_event_trigger_ddl_commands() e join pg_constraint k on k.oid = e.objid
     where e.classid = 'pg_catalog.pg_constraint'::regclass and not e.in_extension
  )
  select jsonb_agg(${DDL_CAPTURE_SCHEMA}.ddl_table_state(c.oid) order by c.oid) into tables
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.oid in (select relid from touched) and c.relkind in ('r', 'p') and c.relpersistence = 'p'
     and ${IGNORED_SCHEMAS};
  if tables is null then return; end if;
  perform pg_logical_emit_message(true, '${MESSAGE_PREFIX.ddl}', jsonb_build_object(
    'version', 1, 'event', 'ddl_command_end', 'tag', tg_tag, 'tables', tables,
    'statement', current_query())::text);
end
$fn$`;

const ON_SQL_DROP = `
create or replace function ${DDL_CAPTURE_SCHEMA}.on_sql_drop() returns event_trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
declare
  dropped jsonb;
begin
  if current_setting('wal_level') <> 'logical' then return; end if;
  select jsonb_agg(jsonb_build_object('type', d.object_type, 'oid', d.objid::int8, 'schema', d.schema_name,
                                      'name', d.object_name) order by d.objid) into dropped
    from pg_event_trigger_dropped_objects() d
    cross join lateral (select d.schema_name as nspname) n
   where d.object_type in ('table', 'index') and not d.is_temporary and ${IGNORED_SCHEMAS};
  if dropped is null then return; end if;
  perform pg_logical_emit_message(true, '${MESSAGE_PREFIX.ddl}', jsonb_build_object(
    'version', 1, 'event', 'sql_drop', 'tag', tg_tag, 'dropped', dropped,
    'statement', current_query())::text);
end
$fn$`;

const VERSION_FUNCTION = `
create or replace function ${DDL_CAPTURE_SCHEMA}.ddl_capture_version() returns int
language sql immutable as $fn$ select ${DDL_CAPTURE_VERSION} $fn$`;

/** Statements that install (or replace) the DDL capture; run in one transaction. */
export const INSTALL_DDL_CAPTURE: readonly string[] = [
  `create schema if not exists ${DDL_CAPTURE_SCHEMA}`,
  TABLE_STATE,
  ON_COMMAND_END,
  ON_SQL_DROP,
  VERSION_FUNCTION,
  // event triggers have no CREATE OR REPLACE: drop and create in the same transaction
  `drop event trigger if exists ${DDL_EVENT_TRIGGERS[0]}`,
  `create event trigger ${DDL_EVENT_TRIGGERS[0]} on ddl_command_end execute function ${DDL_CAPTURE_SCHEMA}.on_ddl_command_end()`,
  `drop event trigger if exists ${DDL_EVENT_TRIGGERS[1]}`,
  `create event trigger ${DDL_EVENT_TRIGGERS[1]} on sql_drop execute function ${DDL_CAPTURE_SCHEMA}.on_sql_drop()`,
];
