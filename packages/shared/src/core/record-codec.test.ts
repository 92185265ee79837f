import { describe, expect, it } from 'vitest';
import type { TransactionRecord } from './change-model.js';
import { isTidemarkError } from './errors.js';
import { pack } from './msgpack.js';
import { decodeRecord, encodeRecord } from './record-codec.js';

const U64_MAX = (1n << 64n) - 1n;

function sample(overrides: Partial<TransactionRecord> = {}): TransactionRecord {
  return {
    source: 'main',
    xid: 4_294_967_295,
    commitLsn: 0x16_b374_d848n,
    endLsn: 0x16_b374_d878n,
    commitTime: 1_795_430_467_123_456n,
    relations: [
      {
        oid: 16_384,
        schema: 'public',
        table: 'orders',
        replicaIdentity: 'default',
        columns: [
          { name: 'id', typeOid: 20, typeMod: -1, key: true },
          { name: 'note', typeOid: 25, typeMod: -1, key: false },
          { name: 'big', typeOid: 25, typeMod: -1, key: false },
        ],
      },
      { oid: 16_400, schema: 'Sales "EU"', table: 'tbl', replicaIdentity: 'full', columns: [] },
    ],
    changes: [
      { op: 'insert', rel: 0, new: { values: ['1', '', null] } },
      { op: 'update', rel: 0, new: { values: ['1', 'x', null], unchanged: [2] } },
      {
        op: 'update',
        rel: 0,
        old: { values: ['1', null, null] },
        oldKind: 'key',
        new: { values: ['2', 'y', 'z'] },
      },
      { op: 'update', rel: 1, old: { values: [] }, oldKind: 'full', new: { values: [], unchanged: [] } },
      { op: 'delete', rel: 0, old: { values: ['2', null, null] }, oldKind: 'key' },
      { op: 'delete', rel: 1, old: { values: [] }, oldKind: 'full' },
      { op: 'truncate', rels: [0, 1], cascade: true, restartIdentity: false },
      {
        op: 'message',
        prefix: 'tidemark.heartbeat',
        content: new Uint8Array([0, 1, 2, 255, 0]),
        transactional: true,
      },
      { op: 'message', prefix: '', content: new Uint8Array(0), transactional: false },
    ],
    ...overrides,
  };
}

describe('record codec', () => {
  it('round-trips every kind of change exactly', () => {
    const tx = sample();
    expect(decodeRecord(encodeRecord(tx))).toStrictEqual(tx);
  });

  it('keeps 64-bit LSNs and negative commit times as exact bigints', () => {
    for (const [lsn, time] of [
      [U64_MAX, -1n],
      [0n, -(1n << 63n)],
      [(1n << 53n) + 1n, (1n << 63n) - 1n],
      [1n, 0n],
    ] as const) {
      const tx = sample({ commitLsn: lsn, endLsn: lsn, commitTime: time });
      const back = decodeRecord(encodeRecord(tx));
      expect(back.commitLsn).toBe(lsn);
      expect(back.endLsn).toBe(lsn);
      expect(back.commitTime).toBe(time);
    }
  });

  it('keeps text values exactly: empty vs NULL, unicode, astral characters, very long text', () => {
    const values = [
      '',
      null,
      ' ',
      'NULL',
      '\\N',
      'ß∂ƒ漢字',
      '😀👩‍👩‍👧𝄞',
      '-0',
      'NaN',
      '{"b":1,"a":[1,2]}',
      '\\x00ff',
      'x'.repeat(5_000_000),
      `${'é'.repeat(70_000)}😀`,
    ];
    const tx = sample({
      relations: [
        {
          oid: 1,
          schema: 's',
          table: 't',
          replicaIdentity: 'index',
          columns: values.map((_, i) => ({ name: `c${i}`, typeOid: 25, typeMod: -1, key: i === 0 })),
        },
      ],
      changes: [{ op: 'insert', rel: 0, new: { values } }],
    });
    const back = decodeRecord(encodeRecord(tx));
    expect(back).toStrictEqual(tx);
    const change = back.changes[0];
    expect(change?.op === 'insert' && change.new.values[0]).toBe('');
    expect(change?.op === 'insert' && change.new.values[1]).toBeNull();
  });

  it('decodes message content as an independent plain Uint8Array', () => {
    const bytes = encodeRecord(sample());
    const change = decodeRecord(bytes).changes[7];
    if (change?.op !== 'message') throw new Error('expected a message');
    expect(change.content.constructor).toBe(Uint8Array);
    bytes.fill(0);
    expect([...change.content]).toEqual([0, 1, 2, 255, 0]);
  });

  it('refuses to encode a change that names a missing relation', () => {
    expect(() => encodeRecord(sample({ changes: [{ op: 'insert', rel: 2, new: { values: [] } }] }))).toThrow(
      /relation index 2/,
    );
  });

  it('reports garbage as RECORD_CORRUPT', () => {
    const good = encodeRecord(sample());
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      new Uint8Array([0xc1]),
      good.subarray(0, good.length - 1),
      new Uint8Array([...good, 0]),
      pack({ source: 'main' }),
      pack([2, 'main', 1, new Uint8Array(8), new Uint8Array(8), new Uint8Array(8), [], []]),
      pack([1, 'main', 1, new Uint8Array(7), new Uint8Array(8), new Uint8Array(8), [], []]),
      pack([1, 'main', 1.5, new Uint8Array(8), new Uint8Array(8), new Uint8Array(8), [], []]),
      pack([1, 'main', 1, new Uint8Array(8), new Uint8Array(8), new Uint8Array(8), [], [[0, 0, [], null]]]),
      pack([
        1,
        'main',
        1,
        new Uint8Array(8),
        new Uint8Array(8),
        new Uint8Array(8),
        [[1, 's', 't', 9, []]],
        [],
      ]),
      pack([
        1,
        'main',
        1,
        new Uint8Array(8),
        new Uint8Array(8),
        new Uint8Array(8),
        [[1, 's', 't', 0, ['c', 1, 1]]],
        [],
      ]),
      pack([
        1,
        'm',
        1,
        new Uint8Array(8),
        new Uint8Array(8),
        new Uint8Array(8),
        [[1, 's', 't', 0, []]],
        [[0, 0, [1], null]],
      ]),
      pack([
        1,
        'm',
        1,
        new Uint8Array(8),
        new Uint8Array(8),
        new Uint8Array(8),
        [[1, 's', 't', 0, []]],
        [[0, 0, [], [0]]],
      ]),
      pack([
        1,
        'm',
        1,
        new Uint8Array(8),
        new Uint8Array(8),
        new Uint8Array(8),
        [[1, 's', 't', 0, []]],
        [[9, 0]],
      ]),
      pack([
        1,
        'm',
        1,
        new Uint8Array(8),
        new Uint8Array(8),
        new Uint8Array(8),
        [[1, 's', 't', 0, []]],
        [[2, 0, [], null, 0]],
      ]),
    ];
    for (const bytes of cases) {
      let thrown: unknown;
      try {
        decodeRecord(bytes);
      } catch (err) {
        thrown = err;
      }
      expect(isTidemarkError(thrown, 'RECORD_CORRUPT'), `case ${[...bytes.subarray(0, 12)]}`).toBe(true);
      expect((thrown as Error).message).toMatch(/^journal record cannot be decoded: /);
    }
  });

  it('never returns a malformed record from random damage', () => {
    const good = encodeRecord(sample());
    for (let i = 0; i < 2000; i++) {
      const bad = Uint8Array.from(good);
      const at = Math.floor(Math.random() * bad.length);
      bad[at] = (bad[at]! + 1 + Math.floor(Math.random() * 255)) & 0xff;
      try {
        const tx = decodeRecord(bad);
        // msgpack has no checksum (segments carry it): damage may decode, but only to a well-formed record
        expect(typeof tx.source).toBe('string');
        expect(typeof tx.commitLsn).toBe('bigint');
      } catch (err) {
        expect(isTidemarkError(err, 'RECORD_CORRUPT')).toBe(true);
      }
    }
  });

  it('is fast enough for the hot path', () => {
    const tx = sample();
    const started = performance.now();
    for (let i = 0; i < 20_000; i++) decodeRecord(encodeRecord(tx));
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
