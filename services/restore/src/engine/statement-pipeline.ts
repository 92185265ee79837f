import { TidemarkError } from '@tidemark/shared';
import type pg from 'pg';
import type { Statement } from './sql-for-change.js';

/**
 * Sends many statements in one round trip: their texts (values inlined as literals)
 * joined into one simple-protocol query, which PostgreSQL runs one statement after the
 * other, each seeing the ones before, exactly as if they had been sent one by one inside
 * the open transaction. Replay was bound by round trips (one per statement, ~60 µs each
 * against a few µs of work), not by the statements themselves.
 *
 * The server answers with one result per statement, so the affected-row count of every
 * update and delete is still checked. An error stops the rest of the query and leaves the
 * transaction aborted; the caller rolls back (see change-applier.ts for how it then finds
 * the change at fault).
 */
const DEFAULT_MAX_CHARS = 1024 * 1024;

export class StatementPipeline {
  private texts: string[] = [];
  private checks: Statement[] = [];
  private chars = 0;

  constructor(
    private readonly client: pg.Client,
    /** flush once the queued text is this long (a bound on memory, not a protocol limit) */
    private readonly maxChars = DEFAULT_MAX_CHARS,
  ) {}

  get queued(): number {
    return this.texts.length;
  }

  async add(stmt: Statement): Promise<void> {
    if (stmt.values.length > 0) throw new RangeError('a pipelined statement must have its values inlined');
    this.texts.push(stmt.text);
    this.checks.push(stmt);
    this.chars += stmt.text.length;
    if (this.chars >= this.maxChars) await this.flush();
  }

  async flush(): Promise<void> {
    const { texts, checks } = this;
    if (texts.length === 0) return;
    this.texts = [];
    this.checks = [];
    this.chars = 0;
    const result = (await this.client.query(texts.join(';\n'))) as pg.QueryResult | pg.QueryResult[];
    const results = Array.isArray(result) ? result : [result];
    if (results.length !== checks.length)
      throw new Error(`sent ${checks.length} statements but got ${results.length} results`);
    checks.forEach((stmt, i) => {
      const rows = results[i]?.rowCount ?? 0;
      if (stmt.expectRows !== undefined && rows !== stmt.expectRows)
        throw new TidemarkError(
          'RESTORE_FAILED',
          `${stmt.describe} matched ${rows} rows instead of ${stmt.expectRows}: the target no longer matches the source at this point of the journal`,
        );
    });
  }
}
