import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { KeyProvider } from '@tidemark/shared';
import { writeFileDurably } from './durable-file.js';

/**
 * The target URL of a restore, password included, kept so that a restore interrupted by a
 * crash or a restart resumes by itself. Job files never hold it; it lives in
 * `<stateDir>/secrets/<id>.json` (directory 0700, file 0600), written durably, and is
 * deleted as soon as the job ends.
 *
 * - With master keys (TIDEMARK_MASTER_KEY/_FILE): envelope encryption as for segments. A
 *   fresh data key encrypts the URL with AES-256-GCM (the restore id as associated data, so
 *   a file copied onto another job does not decrypt); the key provider wraps the data key.
 *   Rotating the master key keeps old files readable as long as their key id stays
 *   configured.
 * - Without: the URL is stored as is, readable by the service's user only, as `.pgpass` is.
 *
 * A secret that is missing or no longer decrypts makes the job fail with a message saying
 * to submit it again: nothing else depends on it.
 */
interface SecretFile {
  readonly v: 1;
  readonly url?: string;
  readonly sealed?: {
    readonly keyId: string;
    readonly wrappedKey: string;
    readonly nonce: string;
    readonly ciphertext: string;
    readonly tag: string;
  };
}

const NONCE_LENGTH = 12;

export class RestoreSecrets {
  private readonly dir: string;

  constructor(
    stateDir: string,
    private readonly keys: KeyProvider | undefined,
  ) {
    this.dir = path.join(stateDir, 'secrets');
  }

  /** whether stored URLs are encrypted (with the deployment's master key) */
  get encrypted(): boolean {
    return this.keys !== undefined;
  }

  /** Resolves once the URL is durably on disk. */
  async save(id: string, url: string): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const body: SecretFile = this.keys ? { v: 1, sealed: await seal(this.keys, id, url) } : { v: 1, url };
    await writeFileDurably(this.file(id), `${JSON.stringify(body)}\n`);
  }

  /** The URL, or undefined when there is none (or it cannot be read). */
  async load(id: string): Promise<string | undefined> {
    let body: SecretFile;
    try {
      body = JSON.parse(readFileSync(this.file(id), 'utf8')) as SecretFile;
    } catch {
      return undefined;
    }
    if (typeof body.url === 'string') return body.url;
    if (!body.sealed || !this.keys) return undefined;
    try {
      return await open(this.keys, id, body.sealed);
    } catch {
      return undefined;
    }
  }

  async remove(id: string): Promise<void> {
    await rm(this.file(id), { force: true });
  }

  private file(id: string): string {
    if (!/^r_[A-Za-z0-9_-]+$/.test(id)) throw new RangeError(`not a restore id: ${id}`);
    return path.join(this.dir, `${id}.json`);
  }
}

async function seal(keys: KeyProvider, id: string, url: string): Promise<NonNullable<SecretFile['sealed']>> {
  const dataKey = randomBytes(32);
  try {
    const wrapped = await keys.wrap(dataKey);
    const nonce = randomBytes(NONCE_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', dataKey, nonce, { authTagLength: 16 });
    cipher.setAAD(aad(id));
    const ciphertext = Buffer.concat([cipher.update(url, 'utf8'), cipher.final()]);
    return {
      keyId: wrapped.keyId,
      wrappedKey: Buffer.from(wrapped.wrapped).toString('base64'),
      nonce: nonce.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
    };
  } finally {
    dataKey.fill(0);
  }
}

async function open(keys: KeyProvider, id: string, s: NonNullable<SecretFile['sealed']>): Promise<string> {
  const dataKey = await keys.unwrap({ keyId: s.keyId, wrapped: Buffer.from(s.wrappedKey, 'base64') });
  try {
    const decipher = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(s.nonce, 'base64'), {
      authTagLength: 16,
    });
    decipher.setAAD(aad(id));
    decipher.setAuthTag(Buffer.from(s.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(s.ciphertext, 'base64')), decipher.final()]).toString(
      'utf8',
    );
  } finally {
    dataKey.fill(0);
  }
}

function aad(id: string): Buffer {
  return Buffer.from(`tidemark/restore-url/v1\0${id}`, 'utf8');
}
