import { createHash } from 'node:crypto';
import { isValidKeyId } from '../core/segment-format.js';

/**
 * Master keys as operators write them (TIDEMARK_MASTER_KEY, or the file named by
 * TIDEMARK_MASTER_KEY_FILE): entries separated by newlines or commas, each either
 * `id:<base64 of 32 bytes>` or a bare base64 key (its id is then derived from the key:
 * `k-` and 16 hex digits of a hash, so it stays the same wherever the key is configured).
 * Blank lines and lines starting with `#` are ignored. The LAST entry is the newest key:
 * new objects are encrypted under it, older ones keep naming the id they were written
 * with. Rotating = appending a key.
 */
export interface MasterKey {
  readonly id: string;
  /** 32 bytes */
  readonly key: Uint8Array;
}

export const MASTER_KEY_LENGTH = 32;
const BASE64 = /^[A-Za-z0-9+/_-]{42,43}={0,2}$/;

/** The keys, oldest first; or a message that never quotes key material. */
export function parseMasterKeys(text: string): MasterKey[] | string {
  const entries = text
    .split(/[\n,]/)
    .map((e) => e.trim())
    .filter((e) => e !== '' && !e.startsWith('#'));
  if (entries.length === 0) return 'no key is given';
  const keys: MasterKey[] = [];
  for (const [i, entry] of entries.entries()) {
    const colon = entry.lastIndexOf(':');
    const id = colon < 0 ? undefined : entry.slice(0, colon).trim();
    const encoded = colon < 0 ? entry : entry.slice(colon + 1).trim();
    if (id !== undefined && !isValidKeyId(id))
      return `entry ${i + 1} has an invalid key id (letters, digits and . _ : / + = @ -, at most 256)`;
    const key = decodeKey(encoded);
    if (!key) return `entry ${i + 1} is not the base64 of ${MASTER_KEY_LENGTH} bytes`;
    const keyId = id ?? derivedKeyId(key);
    if (keys.some((k) => k.id === keyId)) return `key id ${keyId} appears twice`;
    keys.push({ id: keyId, key });
  }
  return keys;
}

function decodeKey(text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined;
  const b = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (b.byteLength !== MASTER_KEY_LENGTH) return undefined;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** the id of a key given without one */
export function derivedKeyId(key: Uint8Array): string {
  return `k-${createHash('sha256').update('tidemark master key id\0').update(key).digest('hex').slice(0, 16)}`;
}
