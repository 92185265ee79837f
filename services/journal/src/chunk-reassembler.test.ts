import { initChecksums, TidemarkError, xxh64Hex } from '@tidemark/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChunkReassembler } from './chunk-reassembler.js';
import {
  type IncomingMessage,
  KAFKA_HEADER_CHUNK,
  KAFKA_HEADER_COMMIT_LSN,
  KAFKA_HEADER_XXH64,
  parseIncomingMessage,
  verifyRecordPayload,
} from './kafka-record-message.js';
import { PartitionProgress } from './partition-progress.js';

beforeAll(async () => {
  await initChecksums();
});

const bytes = (text: string) => new TextEncoder().encode(text);

/** the messages a producer sends for one record, split into `size`-byte chunks */
function send(lsn: bigint, text: string, size: number, firstOffset: bigint): IncomingMessage[] {
  const payload = bytes(text);
  const xxh64 = xxh64Hex(payload);
  const count = Math.max(1, Math.ceil(payload.length / size));
  return Array.from({ length: count }, (_, i) => ({
    offset: firstOffset + BigInt(i),
    commitLsn: lsn,
    xxh64,
    chunk: count === 1 ? undefined : { index: i + 1, count },
    value: payload.subarray(i * size, (i + 1) * size),
  }));
}

const text = (r: { payload: Uint8Array } | undefined) =>
  r ? new TextDecoder().decode(r.payload) : undefined;

describe('ChunkReassembler', () => {
  it('passes whole records through and reassembles chunked ones in order', () => {
    const r = new ChunkReassembler();
    const [whole] = send(0x10n, 'small', 100, 0n);
    expect(r.push(whole!)).toMatchObject({ commitLsn: 0x10n, firstOffset: 0n, lastOffset: 0n });
    const chunks = send(0x20n, 'abcdefghij', 3, 1n);
    expect(chunks).toHaveLength(4);
    for (const c of chunks.slice(0, 3)) expect(r.push(c)).toBeUndefined();
    expect(r.oldestOpenOffset).toBe(1n);
    expect(r.openBytes).toBe(9);
    const done = r.push(chunks[3]!);
    expect(text(done)).toBe('abcdefghij');
    expect(done).toMatchObject({
      commitLsn: 0x20n,
      firstOffset: 1n,
      lastOffset: 4n,
      xxh64: xxh64Hex(bytes('abcdefghij')),
    });
    expect(r.oldestOpenOffset).toBeUndefined();
    expect(r.openBytes).toBe(0);
  });

  it('completes a record from a failed attempt and its replay, ignoring redelivered chunks', () => {
    const r = new ChunkReassembler();
    const first = send(0x20n, 'abcdefghij', 3, 0n).slice(0, 2); // the produce failed after two chunks
    const replay = send(0x20n, 'abcdefghij', 3, 2n);
    for (const c of first) expect(r.push(c)).toBeUndefined();
    const results = replay.map((c) => r.push(c));
    expect(results.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(text(results[3])).toBe('abcdefghij');
    expect(results[3]?.firstOffset).toBe(0n);
  });

  it('drops fragments of records that a newer complete record supersedes', () => {
    const r = new ChunkReassembler();
    const abandoned = send(0x20n, 'abcdefghij', 3, 0n).slice(0, 2);
    for (const c of abandoned) r.push(c);
    expect(r.oldestOpenOffset).toBe(0n);
    const [newer] = send(0x30n, 'next', 100, 2n);
    expect(r.push(newer!)?.commitLsn).toBe(0x30n);
    expect(r.oldestOpenOffset).toBeUndefined();
    expect(r.openRecords).toBe(0);
    // a late retry of an old request: its chunks can no longer form anything new
    const late = send(0x20n, 'abcdefghij', 3, 3n);
    for (const c of late) expect(r.push(c)).toBeUndefined();
    expect(r.oldestOpenOffset).toBeUndefined();
  });

  it('keeps attempts with different chunking apart', () => {
    const r = new ChunkReassembler();
    const a = send(0x20n, 'abcdefghij', 3, 0n);
    const b = send(0x20n, 'abcdefghij', 5, 10n);
    r.push(a[0]!);
    r.push(b[0]!);
    expect(r.openRecords).toBe(2);
    expect(text(r.push(b[1]!))).toBe('abcdefghij');
    expect(r.openRecords).toBe(0);
  });

  it('reset forgets everything', () => {
    const r = new ChunkReassembler();
    r.push(send(0x20n, 'abcdefghij', 3, 0n)[0]!);
    r.reset();
    expect(r.oldestOpenOffset).toBeUndefined();
    expect(r.openBytes).toBe(0);
  });
});

describe('Kafka record messages', () => {
  const place = { topic: 'tidemark.a', partition: 0, offset: '7' };
  const headers = {
    [KAFKA_HEADER_COMMIT_LSN]: Buffer.from('1/A0'),
    [KAFKA_HEADER_XXH64]: 'ABCDEF0123456789',
  };

  it('parses the headers the producer writes', () => {
    const m = parseIncomingMessage(place, {
      value: Buffer.from('x'),
      headers: { ...headers, [KAFKA_HEADER_CHUNK]: Buffer.from('2/3') },
    });
    expect(m).toMatchObject({
      offset: 7n,
      commitLsn: 0x1_0000_00a0n,
      xxh64: 'abcdef0123456789',
      chunk: { index: 2, count: 3 },
    });
    expect(parseIncomingMessage(place, { value: Buffer.from('x'), headers }).chunk).toBeUndefined();
  });

  it('rejects messages not written by Tidemark with an error naming the message', () => {
    const bad = [
      { value: Buffer.from('x') },
      { value: Buffer.from('x'), headers: { ...headers, [KAFKA_HEADER_COMMIT_LSN]: 'nope' } },
      { value: Buffer.from('x'), headers: { ...headers, [KAFKA_HEADER_XXH64]: '123' } },
      { value: Buffer.from('x'), headers: { ...headers, [KAFKA_HEADER_CHUNK]: '4/3' } },
      { value: null, headers },
    ];
    for (const m of bad) {
      expect(() => parseIncomingMessage(place, m)).toThrow(
        /tidemark\.a\[0\]@7 is not a valid journal record/,
      );
    }
  });

  it('verifies a payload against its checksum', () => {
    const payload = bytes('record');
    expect(() => verifyRecordPayload(place, 1n, xxh64Hex(payload), payload)).not.toThrow();
    let err: unknown;
    try {
      verifyRecordPayload(place, 1n, xxh64Hex(payload), bytes('recorD'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TidemarkError);
    expect((err as TidemarkError).code).toBe('RECORD_CORRUPT');
    expect((err as TidemarkError).message).toMatch(/damaged on the way and is not archived/);
  });
});

describe('PartitionProgress', () => {
  it('commits only past records that are durable, in offset order', () => {
    const p = new PartitionProgress();
    expect(p.committable(undefined)).toBeUndefined();
    const a = p.add(10n, 10n);
    const b = p.add(11n, 13n); // a chunked record
    const c = p.add(14n, 14n);
    expect(p.committable(undefined)).toBe(10n);
    b.state = 'durable';
    c.state = 'durable';
    expect(p.committable(undefined)).toBe(10n);
    a.state = 'durable';
    expect(p.committable(undefined)).toBe(15n);
    expect(p.pending).toBe(0);
  });

  it('never commits past a record still being reassembled or one that failed', () => {
    const p = new PartitionProgress();
    const a = p.add(0n, 0n);
    a.state = 'durable';
    p.delivered(1n); // first chunk of a record, held by the reassembler
    p.delivered(2n);
    expect(p.committable(1n)).toBe(1n);
    expect(p.committable(undefined)).toBe(3n);
    const b = p.add(3n, 3n);
    b.state = 'failed';
    expect(p.committable(undefined)).toBe(3n);
    expect(p.hasFailed).toBe(true);
  });

  it('lets go of durable entries', () => {
    const p = new PartitionProgress();
    for (let i = 0n; i < 5000n; i++) p.add(i, i).state = 'durable';
    expect(p.committable(undefined)).toBe(5000n);
  });
});
