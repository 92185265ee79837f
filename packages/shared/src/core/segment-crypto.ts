import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SEGMENT_NONCE_LENGTH } from './segment-format.js';

/**
 * AES-256-GCM for segment record blocks (compute only: keys come in as bytes, already
 * unwrapped by a KeyProvider outside the core).
 *
 * - One random 256-bit data key per segment, one random 96-bit base nonce per segment;
 *   block i uses the base nonce with i XORed into its last 4 bytes, so no (key, nonce)
 *   pair is ever used twice.
 * - Associated data of block i = every byte before the first block (magic, version,
 *   flags, header length and the header: source, LSN range, commit times, record and
 *   block counts, prevSha256, key id, wrapped key, nonce) followed by u32 i. A block
 *   decrypts only in its own position of its own segment: moving blocks between
 *   segments, reordering them, or pairing a segment with another one's wrapped key all
 *   fail authentication.
 * - Stored block = ciphertext | 16-byte tag.
 */
export const DATA_KEY_LENGTH = 32;
export const GCM_TAG_LENGTH = 16;

export function randomDataKey(): Uint8Array {
  return view(randomBytes(DATA_KEY_LENGTH));
}

export function randomNonce(): Uint8Array {
  return view(randomBytes(SEGMENT_NONCE_LENGTH));
}

export function blockNonce(base: Uint8Array, index: number): Uint8Array {
  const nonce = Uint8Array.from(base);
  const v = new DataView(nonce.buffer);
  v.setUint32(SEGMENT_NONCE_LENGTH - 4, (v.getUint32(SEGMENT_NONCE_LENGTH - 4) ^ index) >>> 0);
  return nonce;
}

export function blockAad(prefix: Uint8Array, index: number): Uint8Array {
  const aad = new Uint8Array(prefix.byteLength + 4);
  aad.set(prefix, 0);
  new DataView(aad.buffer).setUint32(prefix.byteLength, index);
  return aad;
}

export function encryptBlock(
  plain: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_LENGTH });
  cipher.setAAD(aad);
  const head = cipher.update(plain);
  const tail = cipher.final();
  const out = new Uint8Array(head.byteLength + tail.byteLength + GCM_TAG_LENGTH);
  out.set(head, 0);
  out.set(tail, head.byteLength);
  out.set(cipher.getAuthTag(), head.byteLength + tail.byteLength);
  return out;
}

/** undefined when the block does not authenticate (wrong key, or bytes changed) */
export function decryptBlock(
  stored: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
): Uint8Array | undefined {
  if (stored.byteLength < GCM_TAG_LENGTH || key.byteLength !== DATA_KEY_LENGTH) return undefined;
  const split = stored.byteLength - GCM_TAG_LENGTH;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_LENGTH });
    decipher.setAAD(aad);
    decipher.setAuthTag(stored.subarray(split));
    const head = decipher.update(stored.subarray(0, split));
    const tail = decipher.final();
    if (tail.byteLength === 0) return view(head);
    const out = new Uint8Array(head.byteLength + tail.byteLength);
    out.set(head, 0);
    out.set(tail, head.byteLength);
    return out;
  } catch {
    return undefined;
  }
}

function view(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
