import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JobStore, type StoredRestoreJob } from './job-store.js';
import { INITIAL_PROGRESS } from './restore-job.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-jobs-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function job(id: string, over: Partial<StoredRestoreJob> = {}): StoredRestoreJob {
  return {
    id,
    source: 'main',
    target: { latest: true },
    into: { url: 'postgresql://me@db:5432/x', database: 'x' },
    state: 'running',
    progress: INITIAL_PROGRESS,
    createdAt: '2026-11-25T10:00:00.000Z',
    ...over,
  };
}

describe('JobStore', () => {
  it('keeps the newest of queued writes, with the checkpoint, readable by the owner only', async () => {
    const store = new JobStore(dir, silentLogger);
    const checkpoint = { targetCreated: true, existingSchemas: [], pinnedLsn: '0/5000' };
    void store.save(job('r_a', { progress: { ...INITIAL_PROGRESS, phase: 'loading-snapshot' } }));
    void store.save(job('r_a', { progress: { ...INITIAL_PROGRESS, phase: 'replaying' }, checkpoint }));
    await store.flush();
    const file = path.join(dir, 'r_a.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({
      progress: { phase: 'replaying' },
      checkpoint,
    });
    // no temp file is left behind
    expect(await readdir(dir)).toEqual(['r_a.json']);
  });

  it('loads jobs oldest first and drops temp files a crash left behind', async () => {
    const store = new JobStore(dir, silentLogger);
    await store.save(job('r_new', { createdAt: '2026-11-25T11:00:00.000Z' }));
    await store.save(job('r_old', { createdAt: '2026-11-25T09:00:00.000Z', state: 'queued' }));
    await writeFile(path.join(dir, '.r_old.json.123.abcd.tmp'), '{"id": "r_old", "sta');
    await writeFile(path.join(dir, 'r_broken.json'), '{not json');
    const loaded = new JobStore(dir, silentLogger).loadAll();
    expect(loaded.map((j) => [j.id, j.state])).toEqual([
      ['r_old', 'queued'],
      ['r_new', 'running'],
    ]);
    expect((await readdir(dir)).sort()).toEqual(['r_broken.json', 'r_new.json', 'r_old.json']);
  });
});
