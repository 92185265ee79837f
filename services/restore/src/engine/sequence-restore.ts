import type { SnapshotSequence } from '@tidemark/shared';
import type pg from 'pg';
import type { EngineLogger } from './engine-logger.js';
import { displayName, qualifiedName, quoteIdent } from './sql-ident.js';

/**
 * Sequences on the restored database. Logical decoding carries no sequence values, so the
 * base snapshot records each sequence (capture: snapshot-sequences.ts) and the restore's
 * last step rebuilds them, in two calls around the column defaults:
 *
 * 1. `createSequences`, before the defaults are set (a `nextval('s'::regclass)` default
 *    needs its sequence to exist): CREATE SEQUENCE with the source's type, increment,
 *    bounds, start, cache and cycle. Identity sequences are not created here.
 * 2. `settleSequences`, after the defaults: identity columns get
 *    `ADD GENERATED {ALWAYS|BY DEFAULT} AS IDENTITY (SEQUENCE NAME ...)` (only now: during
 *    the replay an ALWAYS column would refuse the journal's explicit values), other owned
 *    sequences `OWNED BY` their column, and each sequence is set with `setval` so that the
 *    next `nextval()` returns
 *
 *        max(next value of the source at the snapshot, largest value in use + increment)
 *
 *    where the next value of the source is `last_value + increment` (or START when nextval
 *    was never called), and the values in use are those of the owning column and of every
 *    column whose default calls the sequence, in the restored data (the snapshot plus the
 *    replayed journal). For a descending sequence, min and minus. A value past the
 *    sequence's bounds leaves it exhausted, as it would be on the source.
 *
 * Values the source handed out after the snapshot but that are nowhere in the restored data
 * (rolled back, deleted) are not known: the restored sequence may be behind the source's,
 * but never hands out a value that is in use.
 *
 * The DDL replay can call both for sequences created after the snapshot.
 */
export async function createSequences(
  client: pg.Client,
  sequences: readonly SnapshotSequence[],
): Promise<void> {
  for (const s of sequences) {
    if (s.identity !== null) continue;
    // a sequence of a table this restore does not hold (a table-level restore) is not made
    if (s.ownedBy && !(await tableExists(client, s.ownedBy))) continue;
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(s.schema)}`);
    await client.query(createSequenceSql(s));
  }
}

/** Attaches and sets every sequence (see above); answers warnings for what could not be done. */
export async function settleSequences(
  client: pg.Client,
  sequences: readonly SnapshotSequence[],
  logger?: EngineLogger,
): Promise<string[]> {
  const warnings: string[] = [];
  for (const s of sequences) {
    const owner = s.ownedBy && (await tableExists(client, s.ownedBy)) ? s.ownedBy : null;
    if (s.ownedBy && !owner) continue;
    const name = displayName(s.schema, s.name);
    try {
      if (s.identity !== null && owner) await client.query(identitySql(s, owner));
      else if (owner)
        await client.query(
          `ALTER SEQUENCE ${qualifiedName(s.schema, s.name)} OWNED BY ${qualifiedName(owner.schema, owner.table)}.${quoteIdent(owner.column)}`,
        );
      const used = await valueInUse(client, s, owner);
      const set = sequenceSetting(s, used);
      await client.query('SELECT setval($1::regclass, $2::bigint, $3)', [
        qualifiedName(s.schema, s.name),
        set.value.toString(),
        set.isCalled,
      ]);
    } catch (err) {
      const message = `sequence ${name} not fully restored: ${err instanceof Error ? err.message : String(err)}`;
      warnings.push(message);
      logger?.warn({ sequence: name }, message);
    }
  }
  return warnings;
}

export function createSequenceSql(s: SnapshotSequence): string {
  return `CREATE SEQUENCE IF NOT EXISTS ${qualifiedName(s.schema, s.name)} AS ${s.dataType} ${sequenceOptions(s)}`;
}

export function identitySql(
  s: SnapshotSequence,
  owner: { readonly schema: string; readonly table: string; readonly column: string },
): string {
  const kind = s.identity === 'always' ? 'ALWAYS' : 'BY DEFAULT';
  return (
    `ALTER TABLE ${qualifiedName(owner.schema, owner.table)} ALTER COLUMN ${quoteIdent(owner.column)} ` +
    `ADD GENERATED ${kind} AS IDENTITY (SEQUENCE NAME ${qualifiedName(s.schema, s.name)} ${sequenceOptions(s)})`
  );
}

function sequenceOptions(s: SnapshotSequence): string {
  return (
    `INCREMENT BY ${int(s.increment)} MINVALUE ${int(s.minValue)} MAXVALUE ${int(s.maxValue)} ` +
    `START WITH ${int(s.start)} CACHE ${int(s.cache)} ${s.cycle ? 'CYCLE' : 'NO CYCLE'}`
  );
}

/** Numbers from the manifest go into SQL text: only plain integers get there. */
function int(text: string): string {
  if (!/^-?\d{1,20}$/.test(text)) throw new RangeError(`not an integer: ${JSON.stringify(text)}`);
  return text;
}

/**
 * What setval gets: `{ value: next, isCalled: false }` makes the next nextval() return
 * `next` exactly; past a bound, the bound with isCalled (the sequence is exhausted, or
 * wraps when it cycles, as on the source). Pure.
 */
export function sequenceSetting(
  s: Pick<SnapshotSequence, 'increment' | 'minValue' | 'maxValue' | 'start' | 'lastValue'>,
  inUse: bigint | null,
): { value: bigint; isCalled: boolean } {
  const inc = BigInt(s.increment);
  const up = inc > 0n;
  const candidates = [s.lastValue === null ? BigInt(s.start) : BigInt(s.lastValue) + inc];
  if (inUse !== null) candidates.push(inUse + inc);
  let next = candidates[0]!;
  for (const c of candidates) if (up === c > next) next = c;
  const min = BigInt(s.minValue);
  const max = BigInt(s.maxValue);
  if (next > max) return { value: max, isCalled: true };
  if (next < min) return { value: min, isCalled: true };
  return { value: next, isCalled: false };
}

async function tableExists(client: pg.Client, t: { readonly schema: string; readonly table: string }) {
  const { rows } = await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [
    qualifiedName(t.schema, t.table),
  ]);
  return rows[0]?.ok === true;
}

/** The largest (smallest, descending) value in the columns the sequence feeds, or null. */
async function valueInUse(
  client: pg.Client,
  s: SnapshotSequence,
  owner: { readonly schema: string; readonly table: string; readonly column: string } | null,
): Promise<bigint | null> {
  const columns = new Map<string, { schema: string; table: string; column: string }>();
  if (owner) columns.set(JSON.stringify(owner), { ...owner });
  const { rows } = await client.query<{ schema: string; table: string; column: string }>(
    `SELECT n.nspname AS schema, c.relname AS table, a.attname AS column
       FROM pg_depend d
       JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
       JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
       JOIN pg_class c ON c.oid = ad.adrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = $1::regclass AND c.relispartition = false`,
    [qualifiedName(s.schema, s.name)],
  );
  for (const r of rows)
    columns.set(JSON.stringify({ schema: r.schema, table: r.table, column: r.column }), r);
  const up = BigInt(s.increment) > 0n;
  let best: bigint | null = null;
  for (const c of columns.values()) {
    const col = `(${quoteIdent(c.column)})::numeric`;
    const agg = up ? `ceil(max(${col}))` : `floor(min(${col}))`;
    const res = await client.query<{ v: string | null }>(
      `SELECT ${agg}::text AS v FROM ${qualifiedName(c.schema, c.table)}`,
    );
    const v = res.rows[0]?.v;
    if (v === null || v === undefined) continue;
    const n = BigInt(v);
    if (best === null || (up ? n > best : n < best)) best = n;
  }
  return best;
}
