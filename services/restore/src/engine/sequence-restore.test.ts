import type { SnapshotSequence } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { sequenceProblems } from './manifest-sequences.js';
import { createSequenceSql, identitySql, sequenceSetting } from './sequence-restore.js';

const SEQ: SnapshotSequence = {
  schema: 'public',
  name: 'orders_id_seq',
  dataType: 'bigint',
  increment: '1',
  minValue: '1',
  maxValue: '9223372036854775807',
  start: '1',
  cache: '1',
  cycle: false,
  lastValue: '41',
  ownedBy: { schema: 'public', table: 'orders', column: 'id' },
  identity: null,
};

describe('sequenceSetting', () => {
  it('continues after the larger of the snapshot value and the largest value in use', () => {
    expect(sequenceSetting(SEQ, null)).toEqual({ value: 42n, isCalled: false });
    expect(sequenceSetting(SEQ, 100n)).toEqual({ value: 101n, isCalled: false });
    // rows deleted after the snapshot do not pull the sequence back
    expect(sequenceSetting(SEQ, 7n)).toEqual({ value: 42n, isCalled: false });
  });

  it('starts at START when nextval was never called, unless values are in use', () => {
    const fresh = { ...SEQ, lastValue: null, start: '1000' };
    expect(sequenceSetting(fresh, null)).toEqual({ value: 1000n, isCalled: false });
    expect(sequenceSetting(fresh, 1500n)).toEqual({ value: 1501n, isCalled: false });
  });

  it('goes down for descending sequences and stays exhausted past a bound', () => {
    const down = { ...SEQ, increment: '-2', minValue: '-100', maxValue: '-1', start: '-1', lastValue: '-11' };
    expect(sequenceSetting(down, -20n)).toEqual({ value: -22n, isCalled: false });
    expect(sequenceSetting(down, -100n)).toEqual({ value: -100n, isCalled: true });
    expect(sequenceSetting({ ...SEQ, maxValue: '50' }, 50n)).toEqual({ value: 50n, isCalled: true });
  });
});

describe('sequence DDL', () => {
  it('recreates the definition, and identity columns with their sequence name', () => {
    expect(createSequenceSql(SEQ)).toBe(
      'CREATE SEQUENCE IF NOT EXISTS "public"."orders_id_seq" AS bigint INCREMENT BY 1 MINVALUE 1 ' +
        'MAXVALUE 9223372036854775807 START WITH 1 CACHE 1 NO CYCLE',
    );
    expect(identitySql({ ...SEQ, identity: 'always' }, SEQ.ownedBy!)).toBe(
      'ALTER TABLE "public"."orders" ALTER COLUMN "id" ADD GENERATED ALWAYS AS IDENTITY ' +
        '(SEQUENCE NAME "public"."orders_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 ' +
        'START WITH 1 CACHE 1 NO CYCLE)',
    );
    expect(() => createSequenceSql({ ...SEQ, start: '1; DROP TABLE x' })).toThrow(/not an integer/);
  });
});

describe('sequenceProblems', () => {
  it('accepts manifests without sequences and refuses malformed ones', () => {
    expect(sequenceProblems(undefined)).toEqual([]);
    expect(sequenceProblems([SEQ])).toEqual([]);
    expect(sequenceProblems('x')).toEqual(['sequences is not an array']);
    expect(
      sequenceProblems([{ ...SEQ, dataType: 'text', increment: '0', identity: 'always', ownedBy: null }]),
    ).toEqual([
      'sequences[0].dataType is not smallint, integer or bigint',
      'sequences[0].increment is 0',
      'sequences[0] is an identity sequence without a column',
    ]);
  });
});
