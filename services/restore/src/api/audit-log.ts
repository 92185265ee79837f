import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The API's audit log: one JSON line per request, allowed or denied, in
 * `<dataDir>/audit.log`. Lines are appended in batches (every line of one event-loop turn
 * goes out in one write followed by one fsync), so a burst of requests costs one fsync,
 * and a line that was written survives a crash. It holds who (token name and role, never
 * the token), what (method, route template, source), the answer's status and the request
 * id; never a body (bodies may hold database passwords).
 */
export interface AuditEntry {
  readonly time: string;
  readonly requestId: string;
  /** the configured name of the token; null when no valid token was presented */
  readonly token: string | null;
  readonly role: string | null;
  readonly method: string;
  readonly route: string;
  readonly status: number;
  readonly source: string | null;
}

export class AuditLog {
  private pending: string[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private scheduled = false;

  constructor(readonly file: string) {}

  append(entry: AuditEntry): void {
    this.pending.push(`${JSON.stringify(entry)}\n`);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flushing = this.flushing.then(() => this.writeBatch());
    });
  }

  /** Resolves once every entry appended so far is on disk. */
  async flush(): Promise<void> {
    if (this.scheduled || this.pending.length > 0) {
      this.scheduled = false;
      this.flushing = this.flushing.then(() => this.writeBatch());
    }
    await this.flushing;
  }

  /** Entries after line `after` (0-based count of lines to skip), at most `limit`. */
  async read(options: {
    after: number;
    limit: number;
  }): Promise<{ entries: AuditEntry[]; next: number | null }> {
    await this.flush();
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return { entries: [], next: null };
      throw err;
    }
    const lines = text.split('\n').filter((l) => l.length > 0);
    const page = lines.slice(options.after, options.after + options.limit);
    const entries: AuditEntry[] = [];
    for (const l of page) {
      try {
        entries.push(JSON.parse(l) as AuditEntry);
      } catch {
        // a line cut by a crash mid-write: skipped, the lines around it stay readable
      }
    }
    const end = options.after + page.length;
    return { entries, next: end < lines.length ? end : null };
  }

  private async writeBatch(): Promise<void> {
    const batch = this.pending.join('');
    this.pending = [];
    if (batch.length === 0) return;
    try {
      await mkdir(path.dirname(this.file), { recursive: true });
      const handle = await open(this.file, 'a', 0o600);
      try {
        await handle.write(batch);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      // an audit line that cannot be written must be visible, not silently lost
      process.emitWarning(`audit log ${this.file}: ${(err as Error).message}`);
    }
  }
}
