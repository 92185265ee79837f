/**
 * Builds pgoutput v1 messages byte by byte, for decoder and assembler tests. Kept apart from
 * the decoder on purpose: an encoder written from the protocol docs checks the decoder,
 * rather than mirroring it.
 */
export class PgoutputBytes {
  private readonly parts: number[] = [];

  byte(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }

  char(c: string): this {
    return this.byte(c.charCodeAt(0));
  }

  u16(v: number): this {
    return this.byte(v >>> 8).byte(v);
  }

  u32(v: number): this {
    return this.byte(v >>> 24)
      .byte(v >>> 16)
      .byte(v >>> 8)
      .byte(v);
  }

  u64(v: bigint): this {
    const n = BigInt.asUintN(64, v);
    return this.u32(Number(n >> 32n)).u32(Number(n & 0xffffffffn));
  }

  cstring(s: string): this {
    for (const b of new TextEncoder().encode(s)) this.byte(b);
    return this.byte(0);
  }

  raw(bytes: Uint8Array): this {
    for (const b of bytes) this.byte(b);
    return this;
  }

  /** tuple data: a string is 't', null is 'n', undefined is 'u' (unchanged TOAST) */
  tuple(values: readonly (string | null | undefined)[]): this {
    this.u16(values.length);
    for (const v of values) {
      if (v === null) this.char('n');
      else if (v === undefined) this.char('u');
      else {
        const bytes = new TextEncoder().encode(v);
        this.char('t').u32(bytes.length).raw(bytes);
      }
    }
    return this;
  }

  build(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export const msg = (): PgoutputBytes => new PgoutputBytes();

export function beginBytes(finalLsn: bigint, pgMicros: bigint, xid: number): Uint8Array {
  return msg().char('B').u64(finalLsn).u64(pgMicros).u32(xid).build();
}

export function commitBytes(commitLsn: bigint, endLsn: bigint, pgMicros: bigint): Uint8Array {
  return msg().char('C').byte(0).u64(commitLsn).u64(endLsn).u64(pgMicros).build();
}

export function relationBytes(
  oid: number,
  schema: string,
  table: string,
  identity: string,
  columns: readonly { key?: boolean; name: string; typeOid: number; typeMod?: number }[],
): Uint8Array {
  const m = msg().char('R').u32(oid).cstring(schema).cstring(table).char(identity).u16(columns.length);
  for (const c of columns) {
    m.byte(c.key ? 1 : 0)
      .cstring(c.name)
      .u32(c.typeOid)
      .u32(c.typeMod ?? -1);
  }
  return m.build();
}

export function insertBytes(oid: number, values: readonly (string | null | undefined)[]): Uint8Array {
  return msg().char('I').u32(oid).char('N').tuple(values).build();
}
