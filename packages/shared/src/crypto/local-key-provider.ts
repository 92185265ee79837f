import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { TidemarkError } from '../core/errors.js';
import { DATA_KEY_LENGTH } from '../core/segment-crypto.js';
import type { KeyProvider, WrappedDataKey } from '../core/segment-keys.js';
import { MASTER_KEY_LENGTH, type MasterKey, parseMasterKeys } from './master-keys.js';

/**
 * A KeyProvider holding master keys in process memory (from a file or the environment).
 * A data key is wrapped with AES-256-GCM under the newest master key:
 *
 *   wrapped = u8 version (1) | 12-byte nonce | encrypted data key (32) | 16-byte tag
 *
 * with the key id as associated data, so a wrapped key cannot be passed off under
 * another id. Keys are kept in private fields: they do not show in JSON, in
 * `util.inspect` (so not in pino or console output), or in any error message.
 */
const WRAP_VERSION = 1;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const WRAPPED_LENGTH = 1 + NONCE_LENGTH + DATA_KEY_LENGTH + TAG_LENGTH;

export class LocalKeyProvider implements KeyProvider {
  readonly #keys = new Map<string, Uint8Array>();
  #newest = '';

  /** `keys` oldest first; the last one wraps new data keys */
  constructor(keys: readonly MasterKey[]) {
    if (keys.length === 0)
      throw new TidemarkError('CONFIG_INVALID', 'a key provider needs at least one master key');
    for (const k of keys) this.rotate(k);
  }

  /** Builds a provider from text in the TIDEMARK_MASTER_KEY format (master-keys.ts). */
  static fromText(text: string, what = 'master keys'): LocalKeyProvider {
    const parsed = parseMasterKeys(text);
    if (typeof parsed === 'string') throw new TidemarkError('CONFIG_INVALID', `${what}: ${parsed}`);
    return new LocalKeyProvider(parsed);
  }

  get keyId(): string {
    return this.#newest;
  }

  /** every key id this provider can unwrap, oldest first */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  /**
   * Adds a master key and makes it the newest: new data keys are wrapped with it, data
   * keys wrapped by earlier ones still unwrap. Nothing stored is rewritten.
   */
  rotate(master: MasterKey): void {
    if (master.key.byteLength !== MASTER_KEY_LENGTH)
      throw new TidemarkError('CONFIG_INVALID', `master key ${master.id} is not ${MASTER_KEY_LENGTH} bytes`);
    if (this.#keys.has(master.id))
      throw new TidemarkError('CONFIG_INVALID', `master key id ${master.id} is configured twice`);
    this.#keys.set(master.id, Uint8Array.from(master.key));
    this.#newest = master.id;
  }

  async wrap(dataKey: Uint8Array): Promise<WrappedDataKey> {
    if (dataKey.byteLength !== DATA_KEY_LENGTH)
      throw new TidemarkError('INTERNAL', `a data key must be ${DATA_KEY_LENGTH} bytes`);
    const keyId = this.#newest;
    const nonce = randomBytes(NONCE_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(keyId)!, nonce, {
      authTagLength: TAG_LENGTH,
    });
    cipher.setAAD(aadFor(keyId));
    const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    const wrapped = new Uint8Array(WRAPPED_LENGTH);
    wrapped[0] = WRAP_VERSION;
    wrapped.set(nonce, 1);
    wrapped.set(body, 1 + NONCE_LENGTH);
    wrapped.set(cipher.getAuthTag(), 1 + NONCE_LENGTH + DATA_KEY_LENGTH);
    return { keyId, wrapped };
  }

  async unwrap({ keyId, wrapped }: WrappedDataKey): Promise<Uint8Array> {
    const master = this.#keys.get(keyId);
    if (!master) {
      throw new TidemarkError(
        'DECRYPT_FAILED',
        `master key id ${keyId} is not configured (configured: ${this.keyIds.join(', ')}); ` +
          'keep every key id that wrote data you still need in TIDEMARK_MASTER_KEY(_FILE)',
        { details: { keyId, kind: 'unknown-key-id' } },
      );
    }
    const fail = (why: string) =>
      new TidemarkError('DECRYPT_FAILED', `the data key does not unwrap with master key ${keyId}: ${why}`, {
        details: { keyId, kind: 'unwrap-failed' },
      });
    if (wrapped.byteLength !== WRAPPED_LENGTH || wrapped[0] !== WRAP_VERSION)
      throw fail('it is not a wrapped key of this provider');
    try {
      const decipher = createDecipheriv('aes-256-gcm', master, wrapped.subarray(1, 1 + NONCE_LENGTH), {
        authTagLength: TAG_LENGTH,
      });
      decipher.setAAD(aadFor(keyId));
      decipher.setAuthTag(wrapped.subarray(1 + NONCE_LENGTH + DATA_KEY_LENGTH));
      const key = Buffer.concat([
        decipher.update(wrapped.subarray(1 + NONCE_LENGTH, 1 + NONCE_LENGTH + DATA_KEY_LENGTH)),
        decipher.final(),
      ]);
      return new Uint8Array(key.buffer, key.byteOffset, key.byteLength);
    } catch {
      throw fail('wrong master key under that id, or the wrapped key was altered');
    }
  }

  toJSON(): { keyIds: string[]; newest: string } {
    return { keyIds: this.keyIds, newest: this.#newest };
  }

  [inspect.custom](): string {
    return `LocalKeyProvider { keyIds: [${this.keyIds.join(', ')}], newest: ${this.#newest} }`;
  }
}

function aadFor(keyId: string): Uint8Array {
  return new TextEncoder().encode(`tidemark/data-key/v1\0${keyId}`);
}

export interface MasterKeySettings {
  /** TIDEMARK_MASTER_KEY_FILE */
  readonly masterKeyFile?: string;
  /** TIDEMARK_MASTER_KEY */
  readonly masterKey?: string;
}

/**
 * The local provider configured by TIDEMARK_MASTER_KEY_FILE or TIDEMARK_MASTER_KEY, or
 * undefined when neither is set (segments are then written unencrypted). Errors name the
 * variable or the file, never what is in it.
 */
export async function loadKeyProvider(settings: MasterKeySettings): Promise<LocalKeyProvider | undefined> {
  if (settings.masterKeyFile !== undefined && settings.masterKey !== undefined)
    throw new TidemarkError(
      'CONFIG_INVALID',
      'set TIDEMARK_MASTER_KEY_FILE or TIDEMARK_MASTER_KEY, not both',
    );
  if (settings.masterKey !== undefined)
    return LocalKeyProvider.fromText(settings.masterKey, 'TIDEMARK_MASTER_KEY');
  if (settings.masterKeyFile === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(settings.masterKeyFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new TidemarkError(
      'CONFIG_INVALID',
      `TIDEMARK_MASTER_KEY_FILE ${settings.masterKeyFile} cannot be read (${code})`,
    );
  }
  return LocalKeyProvider.fromText(text, `TIDEMARK_MASTER_KEY_FILE ${settings.masterKeyFile}`);
}
