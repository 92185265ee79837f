import { compress, decompress, init } from '@bokuweb/zstd-wasm';
import { ShapeError } from './shape-check.js';

/**
 * zstd for segment record blocks. Node 20's zlib has no zstd, so this is the reference
 * implementation compiled to WebAssembly (@bokuweb/zstd-wasm, no native build). Like
 * xxhash-wasm it instantiates asynchronously once; `initChecksums()` does both, so every
 * caller that can read a segment can also decompress it.
 *
 * Decompression is bounded: the block says how long it is once opened, the zstd frame
 * header must say the same before anything is allocated, and nothing above
 * MAX_COMPRESSED_BLOCK_INPUT is ever compressed, so a forged block cannot make the reader
 * allocate more than that.
 */
export const ZSTD_LEVEL = 3;
/** larger blocks (one huge record) are stored uncompressed */
export const MAX_COMPRESSED_BLOCK_INPUT = 256 * 1024 * 1024;

let ready = false;
let loading: Promise<void> | undefined;

export function initCompression(): Promise<void> {
  loading ??= init().then(
    () => {
      ready = true;
    },
    (err: unknown) => {
      loading = undefined;
      throw err;
    },
  );
  return loading;
}

function requireReady(): void {
  if (!ready)
    throw new Error('zstd used before initChecksums() resolved: await initChecksums() once at start-up');
}

export function zstdCompress(raw: Uint8Array, level = ZSTD_LEVEL): Uint8Array {
  requireReady();
  return compress(raw, level);
}

/** Throws ShapeError when `data` is not one zstd frame of exactly `expectedLength` bytes. */
export function zstdDecompress(data: Uint8Array, expectedLength: number): Uint8Array {
  requireReady();
  if (expectedLength > MAX_COMPRESSED_BLOCK_INPUT)
    throw new ShapeError(`claims ${expectedLength} bytes, more than any compressed block holds`);
  const declared = zstdFrameContentSize(data);
  if (declared !== expectedLength)
    throw new ShapeError(
      `zstd frame declares ${declared ?? 'no'} content size, the block says ${expectedLength} bytes`,
    );
  let out: Uint8Array;
  try {
    out = expectedLength === 0 ? new Uint8Array(0) : decompress(data, { defaultHeapSize: expectedLength });
  } catch (err) {
    throw new ShapeError(`zstd cannot decompress it (${err instanceof Error ? err.message : String(err)})`);
  }
  if (out.byteLength !== expectedLength)
    throw new ShapeError(`decompressed to ${out.byteLength} bytes, the block says ${expectedLength}`);
  return out;
}

const ZSTD_MAGIC = 0xfd2fb528;

/** The content size in a zstd frame header (RFC 8878 §3.1.1.1), or undefined when absent or malformed. */
export function zstdFrameContentSize(data: Uint8Array): number | undefined {
  if (data.byteLength < 6) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint32(0, true) !== ZSTD_MAGIC) return undefined;
  const descriptor = data[4]!;
  if (descriptor & 0x08) return undefined; // reserved bit
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictIdSize = [0, 1, 2, 4][descriptor & 0x3]!;
  const at = 5 + (singleSegment ? 0 : 1) + dictIdSize;
  const fcsSize = fcsFlag === 0 ? singleSegment : [0, 2, 4, 8][fcsFlag]!;
  if (fcsSize === 0 || at + fcsSize > data.byteLength) return undefined;
  switch (fcsSize) {
    case 1:
      return view.getUint8(at);
    case 2:
      return view.getUint16(at, true) + 256;
    case 4:
      return view.getUint32(at, true);
    default: {
      const size = view.getBigUint64(at, true);
      return size > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(size);
    }
  }
}
