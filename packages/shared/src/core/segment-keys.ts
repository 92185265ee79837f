import { TidemarkError } from './errors.js';
import { randomDataKey } from './segment-crypto.js';
import {
  type EncodedSegment,
  type EncodeSegmentInput,
  encodeSegment,
  type SegmentCompression,
} from './segment-encoder.js';
import { type ReadSegment, readInspected } from './segment-reader.js';
import { inspectSegment, type SegmentVerification, verifySegment } from './segment-verifier.js';

/**
 * Envelope encryption of segments: each segment gets a fresh random data key, which a
 * KeyProvider wraps with a master key; the wrapped key and the master key's id travel in
 * the segment header. The core never sees a master key and does no key I/O: providers
 * (a local one from a file or the environment in src/crypto, a cloud KMS) are passed in.
 *
 * Rotation: a provider wraps new data keys with its newest master key (`keyId`) and
 * unwraps with whichever key id a segment names, so adding a key rotates without
 * rewriting any data.
 */
export interface WrappedDataKey {
  readonly keyId: string;
  readonly wrapped: Uint8Array;
}

export interface KeyProvider {
  /** the master key id new data keys are wrapped with */
  readonly keyId: string;
  wrap(dataKey: Uint8Array): Promise<WrappedDataKey>;
  /**
   * Rejects (never with key material in the message) when the key id is unknown or the
   * wrapped key does not authenticate under it.
   */
  unwrap(key: WrappedDataKey): Promise<Uint8Array>;
}

export interface SealSegmentOptions {
  compression?: SegmentCompression;
  /** encrypt with a fresh data key wrapped by this provider */
  keys?: KeyProvider;
  blockBytes?: number;
}

/** `encodeSegment` with a fresh data key from `keys` when given. The data key is wiped afterwards. */
export async function sealSegment(
  input: EncodeSegmentInput,
  options: SealSegmentOptions = {},
): Promise<EncodedSegment> {
  const { keys, ...rest } = options;
  const sealing = {
    ...(rest.compression ? { compression: rest.compression } : {}),
    ...(rest.blockBytes ? { blockBytes: rest.blockBytes } : {}),
  };
  if (!keys) return encodeSegment(input, sealing);
  const dataKey = randomDataKey();
  try {
    const { keyId, wrapped } = await keys.wrap(dataKey);
    return encodeSegment(input, { ...sealing, encryption: { dataKey, keyId, wrappedKey: wrapped } });
  } finally {
    dataKey.fill(0);
  }
}

/**
 * `readSegment` for segments that may be encrypted: every checksum is verified first, then
 * the data key is unwrapped with `keys` and the blocks decrypted. An encrypted segment
 * without `keys`, a key id the provider does not have, or a master key that does not
 * unwrap the data key fail with DECRYPT_FAILED naming the segment.
 */
export async function openSegment(
  bytes: Uint8Array,
  key?: string,
  options: { keys?: KeyProvider | undefined } = {},
): Promise<ReadSegment> {
  const inspection = inspectSegment(bytes);
  const encryption = inspection.ok ? inspection.header?.encryption : undefined;
  if (!encryption || !options.keys) return readInspected(bytes, inspection, key, undefined);
  const dataKey = await unwrapFor(options.keys, encryption, key);
  try {
    return readInspected(bytes, inspection, key, dataKey);
  } finally {
    dataKey.fill(0);
  }
}

/**
 * `verifySegment`, opening an encrypted segment when `keys` is given. A key that cannot be
 * unwrapped is reported as a 'decrypt-failed' problem, not thrown: an audit goes on.
 */
export async function verifySegmentWithKeys(
  bytes: Uint8Array,
  keys?: KeyProvider,
): Promise<SegmentVerification> {
  const structural = verifySegment(bytes);
  const encryption = structural.header?.encryption;
  if (!structural.ok || !encryption || !keys) return structural;
  let dataKey: Uint8Array;
  try {
    dataKey = await unwrapFor(keys, encryption, undefined);
  } catch (err) {
    structural.problems.push({
      kind: 'decrypt-failed',
      offset: 0,
      message: err instanceof Error ? err.message : String(err),
    });
    return { ...structural, ok: false };
  }
  try {
    return verifySegment(bytes, { dataKey });
  } finally {
    dataKey.fill(0);
  }
}

async function unwrapFor(
  keys: KeyProvider,
  encryption: { keyId: string; wrappedKey: Uint8Array },
  key: string | undefined,
): Promise<Uint8Array> {
  const name = key ?? '(unnamed segment)';
  try {
    return await keys.unwrap({ keyId: encryption.keyId, wrapped: encryption.wrappedKey });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new TidemarkError(
      'DECRYPT_FAILED',
      `segment ${name} cannot be decrypted: its data key (master key id ${encryption.keyId}) cannot be unwrapped: ${reason}`,
      // no `cause`: the reason is in the message, and a provider's own error need not be logged twice
      { details: { key, offset: 0, kind: 'unwrap-failed', keyId: encryption.keyId } },
    );
  }
}
