import { Packr } from 'msgpackr';

/**
 * The one msgpack configuration for journal data. Records and segment metadata are plain
 * arrays and maps: no record extension (its structure table would have to travel with
 * every segment), no msgpackr-specific extensions on the way out, and 64-bit integers
 * travel as 8-byte binaries (see int64-bytes.ts), so decoder defaults cannot change them.
 */
export const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

/** A plain Uint8Array view (msgpackr hands out Buffers, which compare and serialise differently). */
export function pack(value: unknown): Uint8Array {
  const b = packr.pack(value);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Throws whatever msgpackr throws on garbage; callers wrap it in their own error. */
export function unpack(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}
