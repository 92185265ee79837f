import type { TransactionRecord } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { selectEntries, selectRecord } from './record-selection.js';
import { relationOf, TxBuilder } from './testing/journal-fixture.js';

const a = relationOf(1, 'public', 'a', [['id', true], 'v']);
const b = relationOf(2, 'public', 'b', [['id', true], 'v']);
const c = relationOf(3, 'other', 'c', [['id', true], 'v']);
const targets = new Map([
  ['public.a', { schema: 'restored_x', table: 'a' }],
  ['other.c', { schema: 'restored_x', table: 'c' }],
]);
const targetOf = (schema: string, table: string) => targets.get(`${schema}.${table}`);

function record(): TransactionRecord {
  return new TxBuilder('main', 0x1000n, 1_000_000n).tx(
    [a, b, c],
    [
      { op: 'insert', rel: 0, new: { values: ['1', 'x'] } },
      { op: 'insert', rel: 1, new: { values: ['1', 'y'] } },
      { op: 'update', rel: 2, new: { values: ['1', 'z'] } },
      { op: 'truncate', rels: [0, 1], cascade: false, restartIdentity: false },
      { op: 'truncate', rels: [1], cascade: true, restartIdentity: false },
      { op: 'message', prefix: 'tidemark.heartbeat', content: new Uint8Array(), transactional: false },
      { op: 'delete', rel: 1, old: { values: ['1', null] }, oldKind: 'key' },
      { op: 'delete', rel: 2, old: { values: ['1', null] }, oldKind: 'key' },
    ],
  );
}

describe('selectRecord', () => {
  it('keeps only the selected relations, renamed, with their changes re-indexed', () => {
    const r = record();
    const s = selectRecord(r, targetOf);
    expect(s.relations.map((x) => `${x.schema}.${x.table}`)).toEqual(['restored_x.a', 'restored_x.c']);
    expect(s.relations[1]?.oid).toBe(3);
    expect(s.changes).toEqual([
      { op: 'insert', rel: 0, new: { values: ['1', 'x'] } },
      { op: 'update', rel: 1, new: { values: ['1', 'z'] } },
      // a TRUNCATE of a and b truncates only a; one of b alone disappears
      { op: 'truncate', rels: [0], cascade: false, restartIdentity: false },
      r.changes[5],
      { op: 'delete', rel: 1, old: { values: ['1', null] }, oldKind: 'key' },
    ]);
    // the stop rules look at these: they never change
    expect([s.xid, s.commitLsn, s.commitTime, s.endLsn]).toEqual([
      r.xid,
      r.commitLsn,
      r.commitTime,
      r.endLsn,
    ]);
  });

  it('answers the record itself when nothing is left out or renamed', () => {
    const r = record();
    expect(selectRecord(r, (schema, table) => ({ schema, table }))).toBe(r);
  });

  it('keeps a record none of whose tables is selected, empty, so the instant stays exact', async () => {
    const r = record();
    const none = selectRecord(r, () => undefined);
    expect(none.relations).toEqual([]);
    expect(none.changes).toEqual([r.changes[5]]);
    async function* one() {
      yield { record: r, segmentKey: 'seg', offset: 7 };
    }
    const out = [];
    for await (const e of selectEntries(one(), () => undefined)) out.push(e);
    expect(out).toEqual([{ record: none, segmentKey: 'seg', offset: 7 }]);
  });
});
