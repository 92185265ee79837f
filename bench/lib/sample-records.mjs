/**
 * Sample journal records for the core micro-benchmark: pgbench-like transactions (3
 * updates and an insert over 4 tables) and 50-row inserts into a wider table, with values
 * in PostgreSQL's text format as capture would hold them.
 */
function rel(oid, table, columns, keyCount = 1) {
  return {
    oid,
    schema: 'public',
    table,
    replicaIdentity: 'default',
    columns: columns.map(([name, typeOid], i) => ({ name, typeOid, typeMod: -1, key: i < keyCount })),
  };
}

const T0 = 1_795_430_467_000_000n;
const ACCOUNTS = rel(16_390, 'pgbench_accounts', [
  ['aid', 23],
  ['bid', 23],
  ['abalance', 23],
  ['filler', 1042],
]);
const TELLERS = rel(16_393, 'pgbench_tellers', [
  ['tid', 23],
  ['bid', 23],
  ['tbalance', 23],
  ['filler', 1042],
]);
const BRANCHES = rel(16_396, 'pgbench_branches', [
  ['bid', 23],
  ['bbalance', 23],
  ['filler', 1042],
]);
const HISTORY = rel(16_387, 'pgbench_history', [
  ['hid', 20],
  ['tid', 23],
  ['bid', 23],
  ['aid', 23],
  ['delta', 23],
  ['mtime', 1114],
  ['filler', 1042],
]);
const ITEMS = rel(16_400, 'bench_items', [
  ['id', 20],
  ['account', 23],
  ['amount', 1700],
  ['created', 1184],
  ['status', 25],
  ['note', 25],
]);

function txBase(i) {
  const lsn = 0x2000000n + BigInt(i) * 600n;
  return {
    source: 'bench',
    xid: 1000 + i,
    commitLsn: lsn,
    endLsn: lsn + 48n,
    commitTime: T0 + BigInt(i) * 137n,
  };
}

export function pgbenchTx(i) {
  const aid = String((i * 7919) % 100_000);
  const delta = String((i % 5000) - 2500);
  const filler = ' '.repeat(84);
  return {
    ...txBase(i),
    relations: [ACCOUNTS, TELLERS, BRANCHES, HISTORY],
    changes: [
      { op: 'update', rel: 0, new: { values: [aid, '1', String(i * 3), filler] } },
      { op: 'update', rel: 1, new: { values: [String(i % 10), '1', String(i * 5), null] } },
      { op: 'update', rel: 2, new: { values: ['1', String(i * 7), null] } },
      {
        op: 'insert',
        rel: 3,
        new: { values: [String(i), String(i % 10), '1', aid, delta, '2026-11-25 11:53:45.123456', null] },
      },
    ],
  };
}

export function bulkTx(i) {
  return {
    ...txBase(i),
    relations: [ITEMS],
    changes: Array.from({ length: 50 }, (_, j) => {
      const id = i * 50 + j;
      return {
        op: 'insert',
        rel: 0,
        new: {
          values: [
            String(id),
            String(id % 5000),
            `${(id * 7919) % 1_000_000}.25`,
            '2025-01-03 10:12:45.678901+00',
            'new',
            `${id.toString(16).padStart(32, 'a')}${id.toString(36).padStart(32, 'b')}`,
          ],
        },
      };
    }),
  };
}
