import { xxh64 } from './checksum.js';
import { TidemarkError } from './errors.js';
import { pack, unpack } from './msgpack.js';
import { DEFAULT_BLOCK_BYTES, envelopeOf, openEnvelope } from './segment-blocks.js';
import {
  blockNonce,
  DATA_KEY_LENGTH,
  decryptBlock,
  encryptBlock,
  randomDataKey,
  randomNonce,
} from './segment-crypto.js';
import { SEGMENT_NONCE_LENGTH } from './segment-format.js';
import type { KeyProvider } from './segment-keys.js';
import { ShapeError } from './shape-check.js';

/**
 * Snapshot table data, format 'tmblock-v1': COPY text in zstd blocks, optionally encrypted
 * like segments (AES-256-GCM, a fresh data key per object wrapped by a KeyProvider).
 *
 *   magic "TMSTB001" (8) | u32 headerLength | header (msgpack):
 *       { objectKey, compression: "zstd" | null,
 *         encryption: null | { algorithm: "AES-256-GCM", keyId, wrappedKey (bin), nonce (bin 12) } }
 *   frames: u32 length | u8 final (1 on the last frame, else 0) | u64 xxh64(stored) | stored
 *   stored = envelope (segment-blocks.ts: u8 codec | u32 rawLength | body),
 *            or AES-256-GCM(envelope) | tag when encrypted
 *
 * - Streaming both ways: a table of any size passes through in ~256 KiB blocks.
 * - Every frame's xxh64 is checked before it is decrypted or decompressed; the manifest's
 *   SHA-256 of the stored bytes (checkable without a key) and of the COPY text inside
 *   cover the whole object.
 * - Associated data of block i = every byte before the first frame (so the object key, key
 *   id, wrapped key and nonce) | u32 i | u8 final: a block decrypts only in its own place
 *   of its own object, and a truncated object (no final frame) is refused even where the
 *   final flag could be forged. Nonce of block i = base nonce with i XORed into its end.
 */
export const TABLE_CODEC_MAGIC = 'TMSTB001';
const MAGIC = new TextEncoder().encode(TABLE_CODEC_MAGIC);
const FRAME_HEAD = 4 + 1 + 8;
/** sanity bound on a header (key id, wrapped key, object key) */
const MAX_HEADER_BYTES = 64 * 1024;

export interface TableCodecHeader {
  readonly objectKey: string;
  readonly compression: 'zstd' | null;
  readonly encryption: {
    readonly algorithm: 'AES-256-GCM';
    readonly keyId: string;
    readonly wrappedKey: Uint8Array;
    readonly nonce: Uint8Array;
  } | null;
}

export interface SealTableOptions {
  /** bound into the object (header and every block's associated data) */
  readonly objectKey: string;
  readonly compress: boolean;
  /** encrypts with a fresh data key wrapped by this provider */
  readonly keys?: KeyProvider | undefined;
  readonly blockBytes?: number;
}

/** Encodes COPY text into tmblock-v1, block by block. The data key is wiped at the end. */
export async function* sealTableData(
  plain: AsyncIterable<Uint8Array>,
  opts: SealTableOptions,
): AsyncGenerator<Uint8Array> {
  let dataKey: Uint8Array | undefined;
  let encryption: TableCodecHeader['encryption'] = null;
  if (opts.keys) {
    dataKey = randomDataKey();
    const { keyId, wrapped } = await opts.keys.wrap(dataKey);
    encryption = { algorithm: 'AES-256-GCM', keyId, wrappedKey: wrapped, nonce: randomNonce() };
  }
  try {
    const prefix = encodePrefix({
      objectKey: opts.objectKey,
      compression: opts.compress ? 'zstd' : null,
      encryption,
    });
    yield prefix;
    const blockBytes = opts.blockBytes ?? DEFAULT_BLOCK_BYTES;
    const seal = (raw: Uint8Array, index: number, final: boolean): Uint8Array => {
      let stored = envelopeOf(raw, opts.compress);
      if (encryption && dataKey)
        stored = encryptBlock(
          stored,
          dataKey,
          blockNonce(encryption.nonce, index),
          blockAad(prefix, index, final),
        );
      return frame(stored, final);
    };
    // one block is held back so the last one can be marked final
    let pending: Uint8Array | undefined;
    let index = 0;
    for await (const raw of rechunk(plain, blockBytes)) {
      if (pending) yield seal(pending, index++, false);
      pending = raw;
    }
    yield seal(pending ?? new Uint8Array(0), index, true);
  } finally {
    dataKey?.fill(0);
  }
}

export interface OpenTableOptions {
  /** the key the object was read from: it must be the one it was written for */
  readonly objectKey: string;
  /** unwraps the data key of an encrypted object; without it an encrypted object fails with DECRYPT_FAILED */
  readonly keys?: KeyProvider | undefined;
}

/**
 * Decodes tmblock-v1 back into COPY text. Throws SNAPSHOT_CORRUPT (bad structure or
 * checksum, wrong object) or DECRYPT_FAILED (no key, unknown key id, wrong master key, a
 * block that does not authenticate), naming the object and the byte offset.
 */
export async function* openTableData(
  stored: AsyncIterable<Uint8Array>,
  opts: OpenTableOptions,
): AsyncGenerator<Uint8Array> {
  const key = opts.objectKey;
  const input = new ByteQueue(stored);
  const head = await input.take(MAGIC.byteLength + 4);
  if (!head || !equalBytes(head.subarray(0, MAGIC.byteLength), MAGIC))
    throw corrupt(key, 0, `does not start with ${TABLE_CODEC_MAGIC}`);
  const headerLength = view(head).getUint32(MAGIC.byteLength, true);
  if (headerLength > MAX_HEADER_BYTES) throw corrupt(key, 8, `claims a ${headerLength}-byte header`);
  const headerBytes = await input.take(headerLength);
  if (!headerBytes) throw corrupt(key, 12, 'ends inside its header');
  const prefix = concat(head, headerBytes);
  const header = parseHeader(headerBytes, key);
  if (header.objectKey !== key)
    throw corrupt(key, 12, `was written as ${header.objectKey}: an object was copied or moved in the store`);

  let dataKey: Uint8Array | undefined;
  if (header.encryption) dataKey = await unwrapDataKey(opts.keys, header.encryption, key);
  try {
    let offset = prefix.byteLength;
    for (let index = 0; ; index++) {
      const fh = await input.take(FRAME_HEAD);
      if (!fh) throw corrupt(key, offset, 'ends without its final block (truncated)');
      const v = view(fh);
      const length = v.getUint32(0, true);
      const finalFlag = fh[4];
      if (finalFlag !== 0 && finalFlag !== 1)
        throw corrupt(key, offset, `block ${index} has a bad final flag`);
      const final = finalFlag === 1;
      const sum = v.getBigUint64(5, true);
      const body = await input.take(length);
      if (!body) throw corrupt(key, offset, `block ${index} is cut short (truncated)`);
      if (xxh64(body) !== sum) throw corrupt(key, offset, `block ${index} does not match its xxh64`);
      let envelope = body;
      if (header.encryption && dataKey) {
        const plain = decryptBlock(
          body,
          dataKey,
          blockNonce(header.encryption.nonce, index),
          blockAad(prefix, index, final),
        );
        if (!plain)
          throw new TidemarkError(
            'DECRYPT_FAILED',
            `snapshot data ${key} cannot be decrypted: block ${index} at offset ${offset} does not authenticate ` +
              `with its data key (master key id ${header.encryption.keyId}); the object was altered, or written for another place`,
            { details: { key, offset, kind: 'decrypt-failed', keyId: header.encryption.keyId } },
          );
        envelope = plain;
      }
      let raw: Uint8Array;
      try {
        raw = openEnvelope(envelope, header.compression === 'zstd');
      } catch (err) {
        if (!(err instanceof ShapeError)) throw err;
        throw corrupt(key, offset, `block ${index} cannot be opened: ${err.message}`);
      }
      if (raw.byteLength > 0) yield raw;
      offset += FRAME_HEAD + length;
      if (final) {
        if (await input.take(1)) throw corrupt(key, offset, 'has bytes after its final block');
        return;
      }
    }
  } finally {
    dataKey?.fill(0);
  }
}

/** The header of a tmblock-v1 object from its first bytes, or undefined when they are not one. */
export function peekTableHeader(bytes: Uint8Array, objectKey: string): TableCodecHeader | undefined {
  if (bytes.byteLength < 12 || !equalBytes(bytes.subarray(0, 8), MAGIC)) return undefined;
  const length = view(bytes).getUint32(8, true);
  if (bytes.byteLength < 12 + length) return undefined;
  return parseHeader(bytes.subarray(12, 12 + length), objectKey);
}

function encodePrefix(header: TableCodecHeader): Uint8Array {
  const body = pack({
    objectKey: header.objectKey,
    compression: header.compression,
    encryption: header.encryption,
  });
  const out = new Uint8Array(MAGIC.byteLength + 4 + body.byteLength);
  out.set(MAGIC, 0);
  view(out).setUint32(MAGIC.byteLength, body.byteLength, true);
  out.set(body, MAGIC.byteLength + 4);
  return out;
}

function parseHeader(bytes: Uint8Array, key: string): TableCodecHeader {
  let value: unknown;
  try {
    value = unpack(bytes);
  } catch (err) {
    throw corrupt(key, 12, `has an unreadable header (${err instanceof Error ? err.message : String(err)})`);
  }
  const h = value as Record<string, unknown> | null;
  if (typeof h !== 'object' || h === null || typeof h.objectKey !== 'string')
    throw corrupt(key, 12, 'has a malformed header');
  if (h.compression !== null && h.compression !== 'zstd')
    throw corrupt(key, 12, `uses unsupported compression ${JSON.stringify(h.compression)}`);
  let encryption: TableCodecHeader['encryption'] = null;
  if (h.encryption !== null) {
    const e = h.encryption as Record<string, unknown> | null;
    if (
      typeof e !== 'object' ||
      e === null ||
      e.algorithm !== 'AES-256-GCM' ||
      typeof e.keyId !== 'string' ||
      !(e.wrappedKey instanceof Uint8Array) ||
      !(e.nonce instanceof Uint8Array) ||
      e.nonce.byteLength !== SEGMENT_NONCE_LENGTH
    )
      throw corrupt(key, 12, 'has a malformed encryption header');
    encryption = {
      algorithm: 'AES-256-GCM',
      keyId: e.keyId,
      wrappedKey: new Uint8Array(e.wrappedKey),
      nonce: new Uint8Array(e.nonce),
    };
  }
  return { objectKey: h.objectKey, compression: h.compression, encryption };
}

async function unwrapDataKey(
  keys: KeyProvider | undefined,
  e: NonNullable<TableCodecHeader['encryption']>,
  key: string,
): Promise<Uint8Array> {
  const fail = (why: string, kind: string): TidemarkError =>
    new TidemarkError('DECRYPT_FAILED', `snapshot data ${key} cannot be decrypted: ${why}`, {
      details: { key, offset: 0, kind, keyId: e.keyId },
    });
  if (!keys)
    throw fail(
      `it is encrypted (master key id ${e.keyId}) and no master key is configured: set TIDEMARK_MASTER_KEY_FILE or TIDEMARK_MASTER_KEY`,
      'no-key',
    );
  let dataKey: Uint8Array;
  try {
    dataKey = await keys.unwrap({ keyId: e.keyId, wrapped: e.wrappedKey });
  } catch (err) {
    throw fail(
      `its data key (master key id ${e.keyId}) cannot be unwrapped: ${err instanceof Error ? err.message : String(err)}`,
      'unwrap-failed',
    );
  }
  if (dataKey.byteLength !== DATA_KEY_LENGTH)
    throw fail('its unwrapped data key has the wrong length', 'unwrap-failed');
  return dataKey;
}

function blockAad(prefix: Uint8Array, index: number, final: boolean): Uint8Array {
  const aad = new Uint8Array(prefix.byteLength + 5);
  aad.set(prefix, 0);
  view(aad).setUint32(prefix.byteLength, index);
  aad[prefix.byteLength + 4] = final ? 1 : 0;
  return aad;
}

function frame(stored: Uint8Array, final: boolean): Uint8Array {
  const out = new Uint8Array(FRAME_HEAD + stored.byteLength);
  const v = view(out);
  v.setUint32(0, stored.byteLength, true);
  out[4] = final ? 1 : 0;
  v.setBigUint64(5, xxh64(stored), true);
  out.set(stored, FRAME_HEAD);
  return out;
}

/** Regroups a byte stream into blocks of exactly `size` bytes (the last one shorter). */
async function* rechunk(input: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let buf = new Uint8Array(size);
  let fill = 0;
  for await (const chunk of input) {
    let at = 0;
    while (at < chunk.byteLength) {
      const n = Math.min(size - fill, chunk.byteLength - at);
      buf.set(chunk.subarray(at, at + n), fill);
      fill += n;
      at += n;
      if (fill === size) {
        yield buf;
        buf = new Uint8Array(size);
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.subarray(0, fill);
}

/** Pulls exact byte counts out of a chunked stream. */
class ByteQueue {
  private readonly it: AsyncIterator<Uint8Array>;
  private chunks: Uint8Array[] = [];
  private length = 0;
  private done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** exactly n bytes, or undefined when the stream ends first */
  async take(n: number): Promise<Uint8Array | undefined> {
    while (this.length < n && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else if (next.value.byteLength > 0) {
        this.chunks.push(next.value);
        this.length += next.value.byteLength;
      }
    }
    if (this.length < n) return undefined;
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.byteLength, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.byteLength) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.length -= n;
    return out;
  }
}

function corrupt(key: string, offset: number, what: string): TidemarkError {
  return new TidemarkError(
    'SNAPSHOT_CORRUPT',
    `snapshot data ${key} ${what} (offset ${offset}); nothing of it is used`,
    {
      details: { key, offset, kind: 'table-data' },
    },
  );
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
