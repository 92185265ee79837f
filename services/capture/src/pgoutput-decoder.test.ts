import { isTidemarkError } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { decodePgoutput } from './pgoutput-decoder.js';
import { beginBytes, commitBytes, insertBytes, msg, relationBytes } from './test-support/pgoutput-bytes.js';

const LSN = 0x16_b374_d848n;
const BIG_LSN = 0xffff_fffe_0000_0001n; // above 2^53: must not pass through a JS number

describe('decodePgoutput', () => {
  it('decodes Begin with bigint LSN and timestamp', () => {
    expect(decodePgoutput(beginBytes(BIG_LSN, 815_000_000_123_456n, 4_000_000_001))).toEqual({
      tag: 'begin',
      finalLsn: BIG_LSN,
      commitTime: 815_000_000_123_456n,
      xid: 4_000_000_001,
    });
  });

  it('decodes negative timestamps (before 2000-01-01)', () => {
    const m = decodePgoutput(beginBytes(LSN, -1n, 7));
    expect(m).toMatchObject({ commitTime: -1n });
  });

  it('decodes Commit', () => {
    const bytes = msg()
      .char('C')
      .byte(0)
      .u64(LSN)
      .u64(LSN + 48n)
      .u64(123n)
      .build();
    expect(decodePgoutput(bytes)).toEqual({
      tag: 'commit',
      flags: 0,
      commitLsn: LSN,
      endLsn: LSN + 48n,
      commitTime: 123n,
    });
    expect(decodePgoutput(commitBytes(1n, 2n, 3n))).toMatchObject({
      commitLsn: 1n,
      endLsn: 2n,
      commitTime: 3n,
    });
  });

  it('decodes Origin', () => {
    expect(decodePgoutput(msg().char('O').u64(LSN).cstring('node_a').build())).toEqual({
      tag: 'origin',
      originLsn: LSN,
      name: 'node_a',
    });
  });

  it('decodes Relation with column flags, type oid and signed typmod', () => {
    const bytes = relationBytes(16_384, 'app', 'Orders ü', 'f', [
      { key: true, name: 'id', typeOid: 20 },
      { name: 'amount', typeOid: 1700, typeMod: 786_438 },
    ]);
    expect(decodePgoutput(bytes)).toEqual({
      tag: 'relation',
      oid: 16_384,
      schema: 'app',
      table: 'Orders ü',
      replicaIdentity: 'f',
      columns: [
        { flags: 1, name: 'id', typeOid: 20, typeMod: -1 },
        { flags: 0, name: 'amount', typeOid: 1700, typeMod: 786_438 },
      ],
    });
  });

  it('decodes Type', () => {
    expect(decodePgoutput(msg().char('Y').u32(99_999).cstring('app').cstring('mood').build())).toEqual({
      tag: 'type',
      oid: 99_999,
      schema: 'app',
      name: 'mood',
    });
  });

  it('decodes Insert tuple data exactly: text, NULL, empty string, unicode, BOM', () => {
    const values = ['42', null, '', '🦀 e\u0301 ∞', '\uFEFFbom', 'line\nbreak\ttab\\'];
    expect(decodePgoutput(insertBytes(5, values))).toEqual({
      tag: 'insert',
      relationOid: 5,
      new: { values },
    });
  });

  it('marks unchanged TOAST values, distinct from NULL', () => {
    const bytes = msg().char('U').u32(5).char('N').tuple(['1', undefined, null]).build();
    expect(decodePgoutput(bytes)).toEqual({
      tag: 'update',
      relationOid: 5,
      new: { values: ['1', null, null], unchanged: [1] },
    });
  });

  it('decodes Update with old key (K) and with old row (O)', () => {
    const k = msg().char('U').u32(5).char('K').tuple(['1', null]).char('N').tuple(['2', 'x']).build();
    expect(decodePgoutput(k)).toEqual({
      tag: 'update',
      relationOid: 5,
      oldKind: 'key',
      old: { values: ['1', null] },
      new: { values: ['2', 'x'] },
    });
    const o = msg().char('U').u32(5).char('O').tuple(['1', 'a']).char('N').tuple(['1', 'b']).build();
    expect(decodePgoutput(o)).toMatchObject({ oldKind: 'full', old: { values: ['1', 'a'] } });
  });

  it('decodes Delete with K and O', () => {
    expect(decodePgoutput(msg().char('D').u32(6).char('K').tuple(['9']).build())).toEqual({
      tag: 'delete',
      relationOid: 6,
      oldKind: 'key',
      old: { values: ['9'] },
    });
    expect(decodePgoutput(msg().char('D').u32(6).char('O').tuple(['9', 'z']).build())).toMatchObject({
      oldKind: 'full',
    });
  });

  it('decodes Truncate options and relation oids', () => {
    const bytes = msg().char('T').u32(2).byte(3).u32(10).u32(4_294_967_295).build();
    expect(decodePgoutput(bytes)).toEqual({
      tag: 'truncate',
      cascade: true,
      restartIdentity: true,
      relationOids: [10, 4_294_967_295],
    });
    expect(decodePgoutput(msg().char('T').u32(1).byte(2).u32(10).build())).toMatchObject({
      cascade: false,
      restartIdentity: true,
    });
  });

  it('decodes Message (transactional and not) and copies the content', () => {
    const content = Uint8Array.from([0, 1, 2, 255]);
    const bytes = msg().char('M').byte(1).u64(LSN).cstring('tidemark.heartbeat').u32(4).raw(content).build();
    const m = decodePgoutput(bytes);
    expect(m).toEqual({
      tag: 'message',
      transactional: true,
      lsn: LSN,
      prefix: 'tidemark.heartbeat',
      content,
    });
    bytes.fill(0); // the receive buffer gets reused: the decoded content must not change
    expect(m).toMatchObject({ content: Uint8Array.from([0, 1, 2, 255]) });
    const nt = msg().char('M').byte(0).u64(LSN).cstring('x').u32(0).build();
    expect(decodePgoutput(nt)).toMatchObject({ transactional: false, content: new Uint8Array(0) });
  });

  it('reads from a view with a non-zero byteOffset', () => {
    const inner = insertBytes(5, ['a']);
    const outer = new Uint8Array(inner.length + 25);
    outer.set(inner, 25);
    expect(decodePgoutput(outer.subarray(25))).toMatchObject({ new: { values: ['a'] } });
  });

  it.each([
    ['binary tuple data', msg().char('I').u32(5).char('N').u16(1).char('b').u32(1).byte(1).build(), /binary/],
    ['unknown tuple kind', msg().char('I').u32(5).char('N').u16(1).char('x').build(), /tuple data kind/],
    [
      'streamed transaction start',
      msg().char('S').u32(1).byte(1).build(),
      /unsupported pgoutput message type/,
    ],
    ['truncated message', beginBytes(LSN, 1n, 1).subarray(0, 10), /truncated/],
    [
      'unterminated string',
      msg()
        .char('O')
        .u64(1n)
        .raw(Uint8Array.from([0x61]))
        .build(),
      /unterminated/,
    ],
    ['invalid UTF-8', msg().char('I').u32(5).char('N').u16(1).char('t').u32(1).byte(0xff).build(), /UTF-8/],
    ['bad replica identity', relationBytes(1, 's', 't', 'x', []), /replica identity/],
    ['bad delete kind', msg().char('D').u32(6).char('N').tuple(['9']).build(), /expected 'K' or 'O'/],
  ])('rejects %s with REPLICATION_FAILED', (_name, bytes, pattern) => {
    let error: unknown;
    try {
      decodePgoutput(bytes);
    } catch (err) {
      error = err;
    }
    expect(isTidemarkError(error, 'REPLICATION_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(pattern);
  });
});
