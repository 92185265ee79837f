import { TidemarkError } from '@tidemark/shared';
import type pg from 'pg';
import type { Statement } from './sql-for-change.js';

/**
 * Runs statements as named prepared statements (parsed and planned once per shape and
 * connection), one round trip each, and checks that updates and deletes found their row:
 * a missing row means the journal does not continue the snapshot's state, and carrying on
 * would restore something the source never was. Replay itself batches (see
 * change-applier.ts); this is the slow, exact path that names the change a failed batch
 * stumbled on.
 */
export class StatementRunner {
  private readonly names = new Map<string, string>();

  constructor(readonly client: pg.Client) {}

  async run(stmt: Statement): Promise<void> {
    let name = this.names.get(stmt.text);
    if (name === undefined) {
      name = `tm_${this.names.size}`;
      this.names.set(stmt.text, name);
    }
    const result = await this.client.query({ name, text: stmt.text, values: [...stmt.values] });
    if (stmt.expectRows !== undefined && result.rowCount !== stmt.expectRows) {
      throw new TidemarkError(
        'RESTORE_FAILED',
        `${stmt.describe} matched ${result.rowCount ?? 0} rows instead of ${stmt.expectRows}: the target no longer matches the source at this point of the journal`,
        { details: { statement: stmt.text } },
      );
    }
  }
}
