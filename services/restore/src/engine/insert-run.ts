import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RelationInfo, TupleData } from '@tidemark/shared';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { encodeCopyRow } from './copy-text.js';
import { copyInSql, insertRunKey, insertSql } from './sql-for-change.js';
import type { StatementRunner } from './statement-runner.js';

/**
 * Collects consecutive inserts into the same table with the same columns and writes them
 * with one COPY (one round trip and no per-row parse) once the run is long enough to be
 * worth it; short runs go as single-row prepared INSERTs. Any other change flushes the
 * run first, so the order of changes on the target is the order in the journal.
 */
const MAX_BUFFERED_ROWS = 10_000;
const CHUNK_CHARS = 64 * 1024;

export class InsertRun {
  private key: string | undefined;
  private rel: RelationInfo | undefined;
  private rows: TupleData[] = [];

  constructor(
    private readonly client: pg.Client,
    private readonly exec: StatementRunner,
    private readonly copyMinRows: number,
  ) {}

  async add(rel: RelationInfo, tuple: TupleData): Promise<void> {
    const key = insertRunKey(rel);
    if (key !== this.key) {
      await this.flush();
      this.key = key;
      this.rel = rel;
    }
    // checks the tuple's shape now, so an error names the right record
    const stmt = insertSql(rel, tuple);
    this.rows.push({ values: stmt.values });
    if (this.rows.length >= MAX_BUFFERED_ROWS) await this.flush();
  }

  async flush(): Promise<void> {
    const { rel, rows } = this;
    this.rows = [];
    this.key = undefined;
    this.rel = undefined;
    if (!rel || rows.length === 0) return;
    if (rows.length < this.copyMinRows) {
      for (const row of rows) await this.exec.run(insertSql(rel, row));
      return;
    }
    const chunks = function* (): Generator<string> {
      let buf = '';
      for (const row of rows) {
        buf += encodeCopyRow(row.values);
        if (buf.length >= CHUNK_CHARS) {
          yield buf;
          buf = '';
        }
      }
      if (buf.length > 0) yield buf;
    };
    const copy = this.client.query(copyFrom(copyInSql(rel)));
    await pipeline(Readable.from(chunks(), { objectMode: false }), copy);
  }
}
