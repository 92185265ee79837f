import { expect } from 'vitest';
import { connect, fingerprint, runStep, serverNow, type WorkloadStep } from './oracle-workload.js';
import { sleep, type TidemarkProcess } from './tidemark-process.js';

export interface Checkpoint {
  readonly name: string;
  readonly time: string;
  readonly fingerprint: Record<string, string>;
}

/** Runs the steps on the source, recording the clock and fingerprints after each. */
export async function runWorkload(
  sourceUrl: string,
  steps: readonly WorkloadStep[],
  between?: (index: number) => Promise<void>,
): Promise<Checkpoint[]> {
  const client = await connect(sourceUrl);
  const checkpoints: Checkpoint[] = [];
  try {
    checkpoints.push({
      name: 'start',
      time: await serverNow(client),
      fingerprint: await fingerprint(client),
    });
    for (const [i, step] of steps.entries()) {
      await runStep(client, step);
      // a pause, so the recorded instant sits strictly between two commits
      await sleep(20);
      checkpoints.push({
        name: step.name,
        time: await serverNow(client),
        fingerprint: await fingerprint(client),
      });
      await sleep(20);
      await between?.(i);
    }
  } finally {
    await client.end();
  }
  return checkpoints;
}

interface SourceView {
  name: string;
  earliestRestorableTime: string;
  latestRestorableTime: string;
}

export async function waitUntilRestorable(tm: TidemarkProcess, source: string, time: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last: unknown;
  while (Date.now() < deadline) {
    const res = await tm.api<SourceView[]>('GET', '/v1/sources');
    last = res.body;
    const s = res.status === 200 ? res.body.find((x) => x.name === source) : undefined;
    if (s && s.latestRestorableTime >= time) return;
    await sleep(200);
  }
  throw new Error(`journal never reached ${time}: ${JSON.stringify(last)}`);
}

interface RestoreView {
  id: string;
  state: string;
  error?: { code: string; message: string };
}

export async function restoreAndWait(
  tm: TidemarkProcess,
  body: Record<string, unknown>,
): Promise<RestoreView> {
  const created = await tm.api<RestoreView>('POST', '/v1/restores', body);
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    const res = await tm.api<RestoreView>('GET', `/v1/restores/${created.body.id}`);
    if (['succeeded', 'failed', 'cancelled'].includes(res.body.state)) return res.body;
    await sleep(200);
  }
  throw new Error(`restore ${created.body.id} did not finish`);
}

/** Restores every checkpoint into its own database and compares fingerprints. */
export async function assertOracle(
  tm: TidemarkProcess,
  source: string,
  checkpoints: readonly Checkpoint[],
  targetUrl: (database: string) => string,
  prefix: string,
): Promise<void> {
  await waitUntilRestorable(tm, source, checkpoints.at(-1)!.time);
  for (const [i, cp] of checkpoints.entries()) {
    const database = `${prefix}_${i}`;
    const done = await restoreAndWait(tm, {
      source,
      target: { time: cp.time },
      into: { url: targetUrl(database) },
    });
    expect(done.state, `restore to "${cp.name}" at ${cp.time}: ${JSON.stringify(done.error)}`).toBe(
      'succeeded',
    );
    const client = await connect(targetUrl(database));
    try {
      expect(await fingerprint(client), `state after "${cp.name}" at ${cp.time}`).toEqual(cp.fingerprint);
    } finally {
      await client.end();
    }
  }
}
