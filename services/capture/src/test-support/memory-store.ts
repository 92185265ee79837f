import { type ObjectBody, type ObjectInfo, type ObjectStore, TidemarkError } from '@tidemark/shared';

/** In-memory ObjectStore for tests: whole objects appear atomically once their body is read. */
export class MemoryStore implements ObjectStore {
  readonly description = 'memory';
  readonly objects = new Map<string, { data: Uint8Array; modified: Date }>();
  /** keys in the order their puts completed */
  readonly putOrder: string[] = [];
  /** called before a put completes; may throw to fail it */
  beforePutComplete: ((key: string) => Promise<void> | void) | undefined;

  async put(key: string, body: ObjectBody): Promise<void> {
    const chunks: Uint8Array[] = [];
    if (body instanceof Uint8Array) chunks.push(body);
    else for await (const c of body) chunks.push(Uint8Array.from(c));
    const data = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let off = 0;
    for (const c of chunks) {
      data.set(c, off);
      off += c.length;
    }
    await this.beforePutComplete?.(key);
    this.objects.set(key, { data, modified: new Date() });
    this.putOrder.push(key);
  }

  async get(key: string): Promise<Uint8Array> {
    const o = this.objects.get(key);
    if (!o) throw new TidemarkError('OBJECT_NOT_FOUND', `no object ${key}`);
    return o.data;
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array>> {
    const data = await this.get(key);
    return (async function* () {
      yield data;
    })();
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const o = this.objects.get(key);
    return o ? { key, size: o.data.length, modified: o.modified } : undefined;
  }

  async *list(prefix: string, options?: { startAfter?: string }): AsyncIterable<ObjectInfo> {
    const keys = [...this.objects.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const key of keys) {
      if (options?.startAfter !== undefined && key <= options.startAfter) continue;
      const o = this.objects.get(key)!;
      yield { key, size: o.data.length, modified: o.modified };
    }
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  text(key: string): string {
    const o = this.objects.get(key);
    if (!o) throw new Error(`no object ${key}`);
    return new TextDecoder().decode(o.data);
  }
}
