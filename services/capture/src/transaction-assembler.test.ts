import { isTidemarkError, PG_EPOCH_MICROS, type TransactionRecord } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { decodePgoutput } from './pgoutput-decoder.js';
import { beginBytes, commitBytes, insertBytes, msg, relationBytes } from './test-support/pgoutput-bytes.js';
import { type AssemblerOutput, TransactionAssembler } from './transaction-assembler.js';

const cols = [
  { key: true, name: 'id', typeOid: 23 },
  { name: 'v', typeOid: 25 },
];

function feed(a: TransactionAssembler, ...messages: Uint8Array[]): AssemblerOutput[] {
  const out: AssemblerOutput[] = [];
  for (const m of messages) {
    const r = a.push(decodePgoutput(m));
    if (r) out.push(r);
  }
  return out;
}

function only(outputs: AssemblerOutput[]): TransactionRecord {
  expect(outputs).toHaveLength(1);
  const o = outputs[0]!;
  if (o.kind !== 'transaction') throw new Error('expected a transaction');
  return o.record;
}

describe('TransactionAssembler', () => {
  it('emits a record on Commit with commit time in Unix µs and only the touched relations', () => {
    const a = new TransactionAssembler('src1');
    const rec = only(
      feed(
        a,
        relationBytes(100, 'public', 'untouched', 'd', cols),
        relationBytes(200, 'public', 't', 'd', cols),
        beginBytes(1000n, 5n, 77),
        insertBytes(200, ['1', 'a']),
        msg().char('U').u32(200).char('K').tuple(['1', null]).char('N').tuple(['2', 'a']).build(),
        msg().char('D').u32(200).char('K').tuple(['2', null]).build(),
        commitBytes(1000n, 1048n, 5n),
      ),
    );
    expect(rec).toEqual({
      source: 'src1',
      xid: 77,
      commitLsn: 1000n,
      endLsn: 1048n,
      commitTime: 5n + PG_EPOCH_MICROS,
      relations: [
        {
          oid: 200,
          schema: 'public',
          table: 't',
          replicaIdentity: 'default',
          columns: [
            { name: 'id', typeOid: 23, typeMod: -1, key: true },
            { name: 'v', typeOid: 25, typeMod: -1, key: false },
          ],
        },
      ],
      changes: [
        { op: 'insert', rel: 0, new: { values: ['1', 'a'] } },
        { op: 'update', rel: 0, old: { values: ['1', null] }, oldKind: 'key', new: { values: ['2', 'a'] } },
        { op: 'delete', rel: 0, old: { values: ['2', null] }, oldKind: 'key' },
      ],
    });
    expect(a.inTransaction).toBe(false);
  });

  it('2000-01-01 maps to 946684800000000 µs since the Unix epoch', () => {
    const a = new TransactionAssembler('s');
    const rec = only(feed(a, beginBytes(1n, 0n, 1), commitBytes(1n, 2n, 0n)));
    expect(rec.commitTime).toBe(946_684_800_000_000n);
    expect(rec.changes).toEqual([]);
  });

  it('keeps the relation cache across transactions and indexes relations per transaction', () => {
    const a = new TransactionAssembler('s');
    feed(a, relationBytes(1, 's', 'a', 'd', cols), relationBytes(2, 's', 'b', 'f', cols));
    const rec = only(
      feed(
        a,
        beginBytes(10n, 0n, 1),
        insertBytes(2, ['1', 'x']),
        insertBytes(1, ['1', 'y']),
        insertBytes(2, ['2', 'x']),
        msg().char('T').u32(2).byte(1).u32(1).u32(2).build(),
        commitBytes(10n, 20n, 0n),
      ),
    );
    expect(rec.relations.map((r) => r.table)).toEqual(['b', 'a']);
    expect(rec.relations[0]!.replicaIdentity).toBe('full');
    expect(rec.changes.map((c) => ('rel' in c ? c.rel : c.op === 'truncate' ? c.rels : null))).toEqual([
      0,
      1,
      0,
      [1, 0],
    ]);
    expect(rec.changes[3]).toMatchObject({ op: 'truncate', cascade: true, restartIdentity: false });
  });

  it('a relation redescribed mid-transaction gets a second entry', () => {
    const a = new TransactionAssembler('s');
    const rec = only(
      feed(
        a,
        relationBytes(1, 's', 'a', 'd', cols),
        beginBytes(10n, 0n, 1),
        insertBytes(1, ['1', 'x']),
        relationBytes(1, 's', 'a', 'd', [...cols, { name: 'w', typeOid: 25 }]),
        insertBytes(1, ['2', 'x', 'y']),
        commitBytes(10n, 20n, 0n),
      ),
    );
    expect(rec.relations).toHaveLength(2);
    expect(rec.changes.map((c) => ('rel' in c ? c.rel : -1))).toEqual([0, 1]);
    expect(rec.relations[1]!.columns).toHaveLength(3);
  });

  it('keeps transactional messages as changes and emits non-transactional ones on their own', () => {
    const a = new TransactionAssembler('s');
    const nonTx = msg().char('M').byte(0).u64(5n).cstring('p').u32(1).byte(65).build();
    expect(feed(a, nonTx)).toEqual([
      { kind: 'message', lsn: 5n, prefix: 'p', content: Uint8Array.from([65]) },
    ]);
    const rec = only(
      feed(
        a,
        beginBytes(10n, 0n, 1),
        msg()
          .char('M')
          .byte(1)
          .u64(8n)
          .cstring('tidemark.heartbeat')
          .u32(2)
          .raw(Uint8Array.from([104, 105]))
          .build(),
        nonTx, // tolerated inside a transaction too: emitted, not added
        commitBytes(10n, 20n, 0n),
      ).filter((o) => o.kind === 'transaction'),
    );
    expect(rec.changes).toEqual([
      {
        op: 'message',
        prefix: 'tidemark.heartbeat',
        content: Uint8Array.from([104, 105]),
        transactional: true,
      },
    ]);
  });

  it('keeps unchanged-TOAST markers', () => {
    const a = new TransactionAssembler('s');
    const rec = only(
      feed(
        a,
        relationBytes(1, 's', 'a', 'd', cols),
        beginBytes(10n, 0n, 1),
        msg().char('U').u32(1).char('N').tuple(['1', undefined]).build(),
        commitBytes(10n, 20n, 0n),
      ),
    );
    expect(rec.changes[0]).toEqual({ op: 'update', rel: 0, new: { values: ['1', null], unchanged: [1] } });
  });

  it('ignores Type and Origin messages', () => {
    const a = new TransactionAssembler('s');
    const out = feed(
      a,
      beginBytes(10n, 0n, 1),
      msg().char('O').u64(1n).cstring('o').build(),
      msg().char('Y').u32(1).cstring('s').cstring('t').build(),
      commitBytes(10n, 20n, 0n),
    );
    expect(only(out).changes).toEqual([]);
  });

  it.each([
    ['a change outside a transaction', [insertBytes(1, ['1', 'a'])], /outside a transaction/],
    ['a nested Begin', [beginBytes(1n, 0n, 1), beginBytes(2n, 0n, 2)], /inside xid/],
    ['a Commit without Begin', [commitBytes(1n, 2n, 0n)], /outside a transaction/],
    ['an unknown relation', [beginBytes(1n, 0n, 1), insertBytes(9, ['1'])], /before its Relation/],
    [
      'a tuple of the wrong width',
      [relationBytes(1, 's', 'a', 'd', cols), beginBytes(1n, 0n, 1), insertBytes(1, ['1'])],
      /has 1 columns/,
    ],
    ['a Commit LSN that differs from Begin', [beginBytes(1n, 0n, 1), commitBytes(2n, 3n, 0n)], /differs/],
  ])('rejects %s', (_name, messages, pattern) => {
    const a = new TransactionAssembler('s');
    let error: unknown;
    try {
      feed(a, ...messages);
    } catch (err) {
      error = err;
    }
    expect(isTidemarkError(error, 'REPLICATION_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(pattern);
  });

  it('reset drops a half-received transaction', () => {
    const a = new TransactionAssembler('s');
    feed(a, relationBytes(1, 's', 'a', 'd', cols), beginBytes(1n, 0n, 1), insertBytes(1, ['1', 'a']));
    a.reset();
    expect(a.inTransaction).toBe(false);
    expect(() => feed(a, beginBytes(2n, 0n, 2), insertBytes(1, ['1', 'a']))).toThrow(/before its Relation/);
  });
});
