import {
  type ObjectBody,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  TidemarkError,
} from '@tidemark/shared';

/**
 * An ObjectStore in memory, for tests that need to corrupt, drop or count objects.
 * Not part of the engine's API.
 */
export class MemoryObjectStore implements ObjectStore {
  readonly description = 'memory';
  readonly objects = new Map<string, { bytes: Uint8Array; modified: Date }>();
  readonly gets: string[] = [];

  async put(key: string, body: ObjectBody, options?: PutOptions): Promise<void> {
    if (options?.ifNoneMatch && this.objects.has(key))
      throw new TidemarkError('OBJECT_EXISTS', `object ${key} exists`, { details: { key } });
    const bytes = body instanceof Uint8Array ? body : await collect(body);
    this.objects.set(key, { bytes: new Uint8Array(bytes), modified: new Date() });
  }

  async get(key: string): Promise<Uint8Array> {
    this.gets.push(key);
    const o = this.objects.get(key);
    if (!o) throw new TidemarkError('OBJECT_NOT_FOUND', `no object ${key}`, { details: { key } });
    return new Uint8Array(o.bytes);
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array>> {
    const bytes = await this.get(key);
    return (async function* () {
      // small chunks, so streaming code paths really see several of them
      for (let i = 0; i < bytes.length; i += 7) yield bytes.subarray(i, i + 7);
    })();
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const o = this.objects.get(key);
    return o ? { key, size: o.bytes.byteLength, modified: o.modified } : undefined;
  }

  async *list(prefix: string, options?: { startAfter?: string }): AsyncIterable<ObjectInfo> {
    const keys = [...this.objects.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const key of keys) {
      if (options?.startAfter !== undefined && key <= options.startAfter) continue;
      const info = await this.head(key);
      if (info) yield info;
    }
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  /** flips one byte of an object (a test helper) */
  corrupt(key: string, offset: number): void {
    const o = this.objects.get(key);
    if (!o) throw new Error(`no object ${key}`);
    const at = offset < 0 ? o.bytes.length + offset : offset;
    o.bytes[at] = (o.bytes[at] ?? 0) ^ 0xff;
  }
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of body) parts.push(p);
  return Buffer.concat(parts);
}
