import type { Lsn } from '@tidemark/shared';
import type { IncomingMessage } from './kafka-record-message.js';

/** A record put back together (or received whole); its checksum is not verified yet. */
export interface AssembledRecord {
  readonly commitLsn: Lsn;
  readonly xxh64: string;
  readonly payload: Uint8Array;
  /** offset of the earliest message that carried part of it */
  readonly firstOffset: bigint;
  /** offset of the message that completed it */
  readonly lastOffset: bigint;
}

interface Assembly {
  readonly commitLsn: Lsn;
  readonly parts: (Uint8Array | undefined)[];
  received: number;
  firstOffset: bigint;
}

/**
 * Puts chunked records back together, in the order the partition delivers them (pure).
 *
 * Chunks of one attempt to send a record are back to back, but delivery is at-least-once:
 * a failed produce leaves the first chunks of a record in the topic, the capture's replay sends
 * it again in full, and a late retry of an old request can land anywhere after. So chunks are
 * collected by (commit LSN, checksum, chunk count) and by index, duplicates ignored, and a
 * record completes when every index has arrived - even from two attempts, which carry the same
 * bytes (the checksum, verified by the caller, proves it).
 *
 * Fragments that cannot complete any more are dropped: a partial record whose commit LSN is
 * not beyond the newest record completed is either completed already or abandoned by the
 * producer (which replays in order, so a newer complete record means the replay got past it).
 * The journal would drop those as duplicates anyway.
 */
export class ChunkReassembler {
  private readonly open = new Map<string, Assembly>();
  private newestComplete: Lsn | undefined;
  private bufferedBytes = 0;

  /** Returns the record `message` completes, if any. */
  push(message: IncomingMessage): AssembledRecord | undefined {
    if (!message.chunk) {
      return this.completed({
        commitLsn: message.commitLsn,
        xxh64: message.xxh64,
        payload: message.value,
        firstOffset: message.offset,
        lastOffset: message.offset,
      });
    }
    if (this.newestComplete !== undefined && message.commitLsn <= this.newestComplete) return undefined;
    const { index, count } = message.chunk;
    const key = `${message.commitLsn}:${message.xxh64}:${count}`;
    let assembly = this.open.get(key);
    if (!assembly) {
      assembly = {
        commitLsn: message.commitLsn,
        parts: new Array(count),
        received: 0,
        firstOffset: message.offset,
      };
      this.open.set(key, assembly);
    }
    if (assembly.parts[index - 1] !== undefined) return undefined; // a redelivered chunk
    assembly.parts[index - 1] = message.value;
    assembly.received++;
    this.bufferedBytes += message.value.byteLength;
    if (message.offset < assembly.firstOffset) assembly.firstOffset = message.offset;
    if (assembly.received < count) return undefined;
    this.open.delete(key);
    const parts = assembly.parts as Uint8Array[];
    let length = 0;
    for (const p of parts) length += p.byteLength;
    this.bufferedBytes -= length;
    const payload = new Uint8Array(length);
    let at = 0;
    for (const p of parts) {
      payload.set(p, at);
      at += p.byteLength;
    }
    return this.completed({
      commitLsn: message.commitLsn,
      xxh64: message.xxh64,
      payload,
      firstOffset: assembly.firstOffset,
      lastOffset: message.offset,
    });
  }

  /** Offset of the earliest message held for a record still incomplete: nothing at or after it may be committed. */
  get oldestOpenOffset(): bigint | undefined {
    let oldest: bigint | undefined;
    for (const a of this.open.values())
      if (oldest === undefined || a.firstOffset < oldest) oldest = a.firstOffset;
    return oldest;
  }

  /** records waiting for chunks */
  get openRecords(): number {
    return this.open.size;
  }

  /** bytes held for incomplete records */
  get openBytes(): number {
    return this.bufferedBytes;
  }

  /** Forgets everything, e.g. before the partition is read again from an earlier offset. */
  reset(): void {
    this.open.clear();
    this.newestComplete = undefined;
    this.bufferedBytes = 0;
  }

  private completed(record: AssembledRecord): AssembledRecord {
    if (this.newestComplete === undefined || record.commitLsn > this.newestComplete) {
      this.newestComplete = record.commitLsn;
      for (const [key, a] of this.open) {
        if (a.commitLsn <= record.commitLsn) {
          this.open.delete(key);
          for (const p of a.parts) this.bufferedBytes -= p?.byteLength ?? 0;
        }
      }
    }
    return record;
  }
}
