import type { Change, RelationInfo, TransactionRecord } from '@tidemark/shared';
import type { JournalEntry } from './journal-reader.js';
import type { QualifiedName } from './restore-scope.js';

/**
 * Narrows journal records to the tables a scoped restore builds (table-selection.ts), and
 * renames their relations to where those tables went. Pure.
 *
 * Every record stays, even when nothing of it is left: the stop rules (time, LSN, xid)
 * and the progress count look at records, so a restored instant is exactly the one asked
 * for whatever tables the transactions touched. A TRUNCATE of several tables keeps only
 * the selected ones (and is dropped when none is); messages (heartbeats, restore points)
 * pass unchanged.
 */
export type TargetOf = (schema: string, table: string) => QualifiedName | undefined;

export function selectRecord(record: TransactionRecord, targetOf: TargetOf): TransactionRecord {
  const index: (number | undefined)[] = [];
  const relations: RelationInfo[] = [];
  let same = true;
  for (const [i, rel] of record.relations.entries()) {
    const target = targetOf(rel.schema, rel.table);
    if (!target) {
      same = false;
      continue;
    }
    if (target.schema !== rel.schema || target.table !== rel.table || relations.length !== i) same = false;
    index[i] = relations.length;
    relations.push(
      target.schema === rel.schema && target.table === rel.table
        ? rel
        : { ...rel, schema: target.schema, table: target.table },
    );
  }
  if (same) return record;
  const changes: Change[] = [];
  for (const change of record.changes) {
    if (change.op === 'truncate') {
      const rels = change.rels.map((r) => index[r]).filter((r): r is number => r !== undefined);
      if (rels.length > 0) changes.push({ ...change, rels });
      continue;
    }
    // a change naming one relation (insert, update, delete, or a kind added later)
    const rel = (change as { rel?: unknown }).rel;
    if (typeof rel === 'number') {
      const to = index[rel];
      if (to !== undefined) changes.push({ ...change, rel: to } as Change);
      continue;
    }
    changes.push(change);
  }
  return { ...record, relations, changes };
}

/** The entries with their records narrowed (see selectRecord); segment and offset are kept for errors. */
export async function* selectEntries(
  entries: AsyncIterable<JournalEntry>,
  targetOf: TargetOf,
): AsyncGenerator<JournalEntry> {
  for await (const entry of entries) {
    const record = selectRecord(entry.record, targetOf);
    yield record === entry.record ? entry : { ...entry, record };
  }
}
