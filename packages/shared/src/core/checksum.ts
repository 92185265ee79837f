import { createHash } from 'node:crypto';
// biome-ignore lint/correctness/noUnresolvedImports: the default export is typed in a `declare module` block Biome does not read
import xxhash from 'xxhash-wasm';
import { initCompression } from './compression.js';

/**
 * Checksums: xxh64 for fast corruption checks, SHA-256 where forgery matters (the hash
 * chain). xxhash-wasm has to instantiate its WebAssembly module asynchronously once, so
 * hot paths can stay synchronous afterwards: call `initChecksums()` at start-up. It also
 * loads zstd (compression.ts), which reading a compressed segment needs just as much.
 */

type XXHashApi = Awaited<ReturnType<typeof xxhash>>;

let api: XXHashApi | undefined;
let loading: Promise<void> | undefined;

/** Loads xxhash-wasm and zstd once; safe to call any number of times, concurrently too. */
export function initChecksums(): Promise<void> {
  loading ??= Promise.all([xxhash(), initCompression()]).then(
    ([loaded]) => {
      api = loaded;
    },
    (err: unknown) => {
      loading = undefined; // let a later call retry
      throw err;
    },
  );
  return loading;
}

function xxApi(): XXHashApi {
  if (api === undefined) {
    throw new Error('xxh64 used before initChecksums() resolved: await initChecksums() once at start-up');
  }
  return api;
}

export function xxh64(data: Uint8Array): bigint {
  return xxApi().h64Raw(data);
}

export function xxh64Hex(data: Uint8Array): string {
  return toHex16(xxh64(data));
}

export interface StreamingHash<T> {
  update(data: Uint8Array): StreamingHash<T>;
  digest(): T;
  digestHex(): string;
}

export function createXxh64(): StreamingHash<bigint> {
  const state = xxApi().create64();
  const hash: StreamingHash<bigint> = {
    update(data) {
      state.update(data);
      return hash;
    },
    digest: () => state.digest(),
    digestHex: () => toHex16(state.digest()),
  };
  return hash;
}

export function sha256(data: Uint8Array): Uint8Array {
  const b = createHash('sha256').update(data).digest();
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Incremental SHA-256 for streamed objects; `digest`/`digestHex` may be called once. */
export function createSha256(): StreamingHash<Uint8Array> {
  const state = createHash('sha256');
  const hash: StreamingHash<Uint8Array> = {
    update(data) {
      state.update(data);
      return hash;
    },
    digest: () => {
      const b = state.digest();
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
    digestHex: () => state.digest('hex'),
  };
  return hash;
}

/** lower-case hex of arbitrary bytes (no Buffer: the core stays portable) */
export function bytesToHex(data: Uint8Array): string {
  let out = '';
  for (let i = 0; i < data.length; i++) out += HEX_BYTE[data[i]!];
  return out;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function toHex16(v: bigint): string {
  return v.toString(16).padStart(16, '0');
}
