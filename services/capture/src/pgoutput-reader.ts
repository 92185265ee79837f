import { TidemarkError } from '@tidemark/shared';

// fatal: a byte sequence that is not UTF-8 is an error, never silently replaced by U+FFFD;
// ignoreBOM: a value that starts with U+FEFF keeps it (the default would strip it)
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Big-endian reader over one pgoutput message, with bounds checks: a truncated or malformed
 * message is a REPLICATION_FAILED error naming the offset, never a silent misread.
 */
export class PgoutputReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  byte(): number {
    this.need(1);
    return this.view.getUint8(this.offset++);
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.offset);
    this.offset += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset);
    this.offset += 4;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.offset);
    this.offset += 4;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.offset);
    this.offset += 8;
    return v;
  }

  i64(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.offset);
    this.offset += 8;
    return v;
  }

  expect(byte: number, what: string): void {
    const got = this.byte();
    if (got !== byte) throw this.error(`${what}: expected 0x${hex(byte)}, got 0x${hex(got)}`);
  }

  cstring(): string {
    const end = this.bytes.indexOf(0, this.offset);
    if (end < 0) throw this.error('unterminated string');
    const s = this.decode(this.offset, end);
    this.offset = end + 1;
    return s;
  }

  text(length: number): string {
    this.need(length);
    const s = this.decode(this.offset, this.offset + length);
    this.offset += length;
    return s;
  }

  copy(length: number): Uint8Array {
    this.need(length);
    const out = new Uint8Array(length);
    out.set(this.bytes.subarray(this.offset, this.offset + length));
    this.offset += length;
    return out;
  }

  error(message: string): TidemarkError {
    return new TidemarkError('REPLICATION_FAILED', `cannot decode pgoutput message: ${message}`, {
      retriable: false,
      details: { offset: this.offset, length: this.bytes.byteLength },
    });
  }

  private decode(start: number, end: number): string {
    try {
      return utf8.decode(this.bytes.subarray(start, end));
    } catch (err) {
      throw new TidemarkError(
        'REPLICATION_FAILED',
        'cannot decode pgoutput message: text is not valid UTF-8',
        {
          retriable: false,
          cause: err,
          details: { offset: start },
        },
      );
    }
  }

  private need(n: number): void {
    if (this.offset + n > this.bytes.byteLength) {
      throw this.error(`truncated: need ${n} more bytes at offset ${this.offset}`);
    }
  }
}

export function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
