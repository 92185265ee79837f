import { isTidemarkError } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import {
  canTransition,
  INITIAL_PROGRESS,
  type RestoreJobView,
  transition,
  withProgress,
} from './restore-job.js';

const job: RestoreJobView = {
  id: 'r_1',
  source: 'app',
  target: { latest: true },
  into: { url: 'postgresql://h/db', database: 'db' },
  state: 'queued',
  progress: INITIAL_PROGRESS,
  createdAt: '2024-05-01T00:00:00.000Z',
};
const at = new Date('2024-05-01T01:00:00.000Z');

describe('restore job lifecycle', () => {
  it('goes queued → running → succeeded with timestamps', () => {
    const running = transition(job, 'running', at);
    expect(running.startedAt).toBe(at.toISOString());
    const done = transition(running, 'succeeded', at);
    expect(done.finishedAt).toBe(at.toISOString());
    expect(done.progress.phase).toBe('done');
  });

  it('throws on transitions the lifecycle does not have', () => {
    const done = transition(transition(job, 'running', at), 'failed', at, {
      code: 'X',
      message: 'm',
      details: {},
    });
    expect(done.error?.code).toBe('X');
    for (const to of ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const) {
      expect(() => transition(done, to, at)).toThrow(/cannot become/);
    }
    expect(() => transition(job, 'succeeded', at)).toSatisfy((f: () => unknown) => {
      try {
        f();
        return false;
      } catch (err) {
        return isTidemarkError(err, 'CONFLICT');
      }
    });
    expect(canTransition('running', 'queued')).toBe(false);
    expect(canTransition('queued', 'cancelled')).toBe(true);
  });

  it('freezes progress once terminal', () => {
    const cancelled = transition(job, 'cancelled', at);
    expect(withProgress(cancelled, { segmentsRead: 5 })).toBe(cancelled);
    expect(withProgress(job, { segmentsRead: 5 }).progress.segmentsRead).toBe(5);
  });
});
