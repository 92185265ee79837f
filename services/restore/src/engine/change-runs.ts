import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RelationInfo } from '@tidemark/shared';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { encodeCopyRow } from './copy-text.js';
import type { ChangeSink } from './record-replay.js';
import { type Run, type RunItem, RunPlanner } from './run-planner.js';
import {
  copyInSql,
  type DmlChange,
  deleteSql,
  insertRunKey,
  insertValues,
  type Statement,
  type TargetTableInfo,
  updateSql,
} from './sql-for-change.js';
import { deleteRunSql, insertRowsSql, primaryKeyMatch, setColumns, updateRunSql } from './sql-for-runs.js';
import { sqlLiteral, tableKey } from './sql-ident.js';
import type { StatementPipeline } from './statement-pipeline.js';

/**
 * The fast path of replay: groups a batch's changes into runs (run-planner.ts decides
 * which may share a statement and in which order), then writes each run as one statement
 * into the pipeline — a multi-row INSERT, an UPDATE or DELETE joined to a VALUES list of
 * primary keys (sql-for-runs.ts), or the change's own single-row statement — or, for a long
 * run of inserts, as one COPY.
 */
const LIMITS = { maxChanges: 10_000, maxWeight: 4 * 1024 * 1024, maxRuns: 64 };
const COPY_CHUNK_CHARS = 64 * 1024;

export interface Queued {
  readonly rel: RelationInfo;
  readonly change: DmlChange;
  readonly target: TargetTableInfo | undefined;
  /** insert: the row; update: values of the set columns; delete: the key values */
  readonly row: readonly (string | null)[];
  /** update: the set columns; delete: the key columns */
  readonly cols: readonly number[];
  readonly keyCols: readonly number[];
}

interface TableFacts {
  readonly table: string;
  readonly family: string;
  readonly insertShape: string;
  /** primary-key column indexes, when the target has a primary key on columns the journal has */
  readonly pkCols: readonly number[] | undefined;
}

export class ChangeRuns implements ChangeSink {
  private readonly planner = new RunPlanner<Queued>(LIMITS);
  private readonly facts = new WeakMap<RelationInfo, TableFacts>();

  constructor(
    private readonly client: pg.Client,
    private readonly statements: StatementPipeline,
    private readonly copyMinRows: number,
    /** awaited before anything is written (the connection may still be committing a batch) */
    private readonly beforeWrite: () => Promise<void>,
  ) {}

  /** Queues the change; a promise only when the queue reached a limit and is being written. */
  dml(rel: RelationInfo, change: DmlChange, target: TargetTableInfo | undefined): Promise<void> | undefined {
    const t = this.factsOf(rel, target);
    let item: RunItem;
    let queued: Queued;
    if (change.op === 'insert') {
      // validates the row now, so a bad row fails with its own record
      const row = insertValues(rel, change.new);
      const key = t.pkCols && keyOf(t.pkCols.map((i) => row[i] ?? null));
      item = { family: t.family, table: t.table, shape: t.insertShape, key };
      queued = { rel, change, target, row, cols: NONE, keyCols: NONE };
    } else {
      const match = primaryKeyMatch(rel, change, target);
      if (!match) {
        // found some other way, or the key changes: alone, and nothing on its table passes it
        item = { family: t.family, table: t.table, shape: undefined, key: undefined };
        queued = { rel, change, target, row: NONE, cols: NONE, keyCols: NONE };
      } else {
        const cols = change.op === 'update' ? setColumns(rel, change) : match.cols;
        const row = change.op === 'update' ? cols.map((i) => change.new.values[i] ?? null) : match.values;
        const shape = `${change.op} ${t.insertShape} ${cols.join(',')} ${match.cols.join(',')}`;
        item = { family: t.family, table: t.table, shape, key: keyOf(match.values) };
        queued = { rel, change, target, row, cols, keyCols: match.cols };
      }
    }
    let weight = 16;
    for (const v of queued.row) weight += (v?.length ?? 0) + 4;
    return this.planner.add(item, queued, weight) ? this.flush() : undefined;
  }

  async statement(stmt: Statement): Promise<void> {
    await this.flush();
    await this.beforeWrite();
    await this.statements.add(stmt);
  }

  async barrier(action: (client: pg.Client) => Promise<void>): Promise<void> {
    await this.flush();
    await this.beforeWrite();
    await this.statements.flush();
    await action(this.client);
  }

  /** Writes every queued run, in order; the pipeline may still hold them (the caller flushes it). */
  async flush(): Promise<void> {
    const runs = this.take();
    if (runs.length === 0) return;
    await this.beforeWrite();
    await this.write(runs);
  }

  /** The queued runs, taken now (synchronously): what a batch ends with. */
  take(): Run<Queued>[] {
    return this.planner.take();
  }

  async write(runs: readonly Run<Queued>[]): Promise<void> {
    for (const run of runs) await this.writeRun(run);
  }

  private async writeRun(run: Run<Queued>): Promise<void> {
    const [first] = run.values;
    if (!first) return;
    const rows = run.values.map((q) => q.row);
    if (run.values.length === 1) await this.statements.add(single(first));
    else if (first.change.op === 'update')
      await this.statements.add(updateRunSql(first.rel, first.cols, first.keyCols, rows));
    else if (first.change.op === 'delete')
      await this.statements.add(deleteRunSql(first.rel, first.keyCols, rows));
    else if (rows.length < this.copyMinRows) await this.statements.add(insertRowsSql(first.rel, rows));
    else {
      // COPY is its own round trip: what is queued before it must run first
      await this.statements.flush();
      await copyRows(this.client, first.rel, rows);
    }
  }

  private factsOf(rel: RelationInfo, target: TargetTableInfo | undefined): TableFacts {
    let t = this.facts.get(rel);
    if (!t) {
      const table = tableKey(rel.schema, rel.table);
      const pk = target?.primaryKey;
      const pkCols = pk?.map((name) => rel.columns.findIndex((c) => c.name === name));
      t = {
        table,
        family: target?.partitionRoot ?? table,
        insertShape: insertRunKey(rel),
        pkCols: pkCols && pkCols.length > 0 && pkCols.every((i) => i >= 0) ? pkCols : undefined,
      };
      this.facts.set(rel, t);
    }
    return t;
  }
}

const NONE: readonly never[] = [];

/**
 * A primary-key value as a string, compared only with keys of the same table (so of the
 * same width); undefined when part of it is NULL (it then finds no row).
 */
function keyOf(values: readonly (string | null)[]): string | undefined {
  if (values.length === 1) return values[0] ?? undefined;
  return values.includes(null) ? undefined : JSON.stringify(values);
}

function single(q: Queued): Statement {
  const { rel, change, target } = q;
  if (change.op === 'insert') return insertRowsSql(rel, [q.row]);
  if (change.op === 'update') return updateSql(rel, change, target, sqlLiteral);
  return deleteSql(rel, change, target, sqlLiteral);
}

async function copyRows(
  client: pg.Client,
  rel: RelationInfo,
  rows: readonly (readonly (string | null)[])[],
): Promise<void> {
  const chunks = function* (): Generator<string> {
    let buf = '';
    for (const row of rows) {
      buf += encodeCopyRow(row);
      if (buf.length >= COPY_CHUNK_CHARS) {
        yield buf;
        buf = '';
      }
    }
    if (buf.length > 0) yield buf;
  };
  await pipeline(Readable.from(chunks(), { objectMode: false }), client.query(copyFrom(copyInSql(rel))));
}
