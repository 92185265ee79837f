import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeFileDurably } from './durable-file.js';
import type { EngineLogger } from './engine-logger.js';
import type { RestoreJobView } from './restore-job.js';
import type { RestoreCheckpoint } from './restore-resume.js';

/**
 * Restore jobs as one JSON file each in the state directory, so the list survives a
 * restart. Writes go to a temp file that is fsynced and renamed over the old one (a reader
 * or a crash sees the old or the new file, never half of one), one write at a time per job so
 * an older view can never overwrite a newer one. Loading is synchronous: it runs once at
 * start and makes get/list usable at once.
 */
const JOB_FILE = /^r_[A-Za-z0-9_-]+\.json$/;

/**
 * A job as its file holds it: the view, and the SHA-256 of the request it was created
 * from when it has an Idempotency-Key (the request without its password: see
 * restore-runner.ts), so a repeated request is recognised after a restart too.
 */
export type StoredRestoreJob = RestoreJobView & {
  readonly requestSha256?: string;
  /** what a resume after a crash needs to know (restore-resume.ts) */
  readonly checkpoint?: RestoreCheckpoint;
};

export class JobStore {
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly dir: string,
    private readonly logger: EngineLogger,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  loadAll(): StoredRestoreJob[] {
    const jobs: StoredRestoreJob[] = [];
    for (const name of readdirSync(this.dir)) {
      // a temp file left by a crash mid-write: the job file it was replacing is intact
      if (name.startsWith('.r_') && name.endsWith('.tmp')) rmSync(path.join(this.dir, name), { force: true });
      if (!JOB_FILE.test(name)) continue;
      try {
        const job = JSON.parse(readFileSync(path.join(this.dir, name), 'utf8')) as StoredRestoreJob;
        if (typeof job.id === 'string' && typeof job.state === 'string') jobs.push(job);
      } catch (err) {
        this.logger.warn({ file: name, err }, 'skipping unreadable restore job file');
      }
    }
    return jobs.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  }

  /** Queues a write of `job`; resolves when it (and every earlier write of the job) is on disk. */
  save(job: StoredRestoreJob): Promise<void> {
    const prev = this.queues.get(job.id) ?? Promise.resolve();
    const next = prev
      .then(() => this.write(job))
      .catch((err: unknown) => {
        this.logger.error({ id: job.id, err }, 'could not write restore job state');
      });
    this.queues.set(job.id, next);
    return next;
  }

  /** Resolves when every queued write is done. */
  async flush(): Promise<void> {
    await Promise.all(this.queues.values());
  }

  private async write(job: StoredRestoreJob): Promise<void> {
    await writeFileDurably(path.join(this.dir, `${job.id}.json`), `${JSON.stringify(job, null, 2)}\n`);
  }
}
