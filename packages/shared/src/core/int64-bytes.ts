/**
 * 64-bit integers as fixed 8-byte little-endian binaries. msgpack would turn large or
 * negative 64-bit values into JS numbers (losing precision) depending on decoder options;
 * a fixed binary round-trips exactly whatever the options.
 */

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

export function u64ToBytes(v: bigint): Uint8Array {
  if (v < 0n || v > U64_MAX) throw new RangeError(`not an unsigned 64-bit value: ${v}`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v, true);
  return out;
}

export function i64ToBytes(v: bigint): Uint8Array {
  if (v < I64_MIN || v > I64_MAX) throw new RangeError(`not a signed 64-bit value: ${v}`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, v, true);
  return out;
}

/** undefined unless `b` is exactly 8 bytes */
export function bytesToU64(b: unknown): bigint | undefined {
  if (!(b instanceof Uint8Array) || b.byteLength !== 8) return undefined;
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

export function bytesToI64(b: unknown): bigint | undefined {
  if (!(b instanceof Uint8Array) || b.byteLength !== 8) return undefined;
  return new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true);
}
