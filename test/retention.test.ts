import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { PostgresCluster } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedSetup, startEmbeddedSetup } from './support/embedded-setup.js';
import { type Checkpoint, restoreAndWait, runWorkload, waitUntilRestorable } from './support/oracle-run.js';
import { connect, fingerprint, ORACLE_SCHEMA, oracleSteps } from './support/oracle-workload.js';
import { sleep, type TidemarkProcess } from './support/tidemark-process.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));

interface GcReport {
  retention: string | null;
  keptSnapshot: { lsn: string; time: string } | null;
  snapshots: number;
  segments: number;
  objects: number;
  deleted: { key: string }[];
}

/**
 * Retention through the real `tidemark up`: a compaction snapshot, more workload, then a
 * garbage collection triggered while a restore runs. The restore succeeds and equals the
 * source (the oracle), the collector deleted the base snapshot and the segments before the
 * compacted one, the window starts at the compacted snapshot, and what is left verifies.
 */
describe('retention and garbage collection end to end', () => {
  let cluster: PostgresCluster;
  let tm: TidemarkProcess;

  let setup: EmbeddedSetup | undefined;

  beforeAll(async () => {
    setup = await startEmbeddedSetup('debian15', ORACLE_SCHEMA, {
      env: {
        TIDEMARK_RETENTION: '2s',
        TIDEMARK_GC_INTERVAL_MS: '0',
        TIDEMARK_COMPACTION_INTERVAL_MS: '0',
      },
    });
    ({ cluster, tm } = setup);
  }, 120_000);

  afterAll(() => setup?.teardown());

  it('collects while a restore runs; the restore and the window stay exact', async () => {
    const steps = oracleSteps({ bigRows: 20_000 });
    const before: Checkpoint[] = await runWorkload(cluster.url('source'), steps.slice(0, 4));
    await waitUntilRestorable(tm, 'main', before.at(-1)!.time);
    const job = await tm.api<{ id: string }>('POST', '/v1/sources/main/snapshots');
    expect(job.status, JSON.stringify(job.body)).toBe(202);
    for (let i = 0; ; i++) {
      const state = (await tm.api<{ state: string }>('GET', `/v1/snapshot-jobs/${job.body.id}`)).body.state;
      if (state === 'succeeded') break;
      expect(state, 'compaction').not.toBe('failed');
      expect(i).toBeLessThan(600);
      await sleep(100);
    }
    const snapshots = (
      await tm.api<{ lsn: string; kind: string; time: string }[]>('GET', '/v1/sources/main/snapshots')
    ).body;
    const compacted = snapshots.find((s) => s.kind === 'compacted')!;
    expect(compacted).toBeDefined();

    const after = await runWorkload(cluster.url('source'), steps.slice(4));
    await waitUntilRestorable(tm, 'main', after.at(-1)!.time);
    // the window (2 s, and the collector's 0.2 s margin) has passed the compacted snapshot
    await sleep(2500);
    const source = (
      await tm.api<{ retention: string; earliestRestorableTime: string }>('GET', '/v1/sources/main')
    ).body;
    expect(source).toMatchObject({ retention: '2s', earliestRestorableTime: compacted.time });
    const early = await tm.api<{ error: { code: string } }>('POST', '/v1/restores', {
      source: 'main',
      target: { time: before[1]!.time },
      into: { url: cluster.url('too_early') },
    });
    expect(early.status).toBe(422);
    expect(early.body.error.code).toBe('TARGET_BEFORE_WINDOW');

    const dry = await tm.api<GcReport>('POST', '/v1/sources/main/gc?dryRun=true');
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.keptSnapshot?.lsn).toBe(compacted.lsn);
    expect(dry.body.snapshots).toBe(1);

    // a restore to the latest state, and the collection while it runs
    const last = after.at(-1)!;
    const created = await tm.api<{ id: string }>('POST', '/v1/restores', {
      source: 'main',
      target: { time: last.time },
      into: { url: cluster.url('during_gc') },
    });
    expect(created.status).toBe(202);
    // once planned, its lease holds only what it reads (while planning it holds everything)
    let view = { state: '', progress: { phase: '' } };
    const planned = () => ['loading-snapshot', 'replaying'].includes(view.progress.phase);
    for (let i = 0; i < 2000 && !planned() && ['queued', 'running', ''].includes(view.state); i++) {
      view = (await tm.api<typeof view>('GET', `/v1/restores/${created.body.id}`)).body;
      if (!planned()) await sleep(5);
    }
    expect(view).toMatchObject({
      state: 'running',
      progress: { phase: expect.stringMatching(/loading|replaying/) },
    });
    const gc = await tm.api<GcReport>('POST', '/v1/sources/main/gc');
    expect(gc.status, JSON.stringify(gc.body)).toBe(200);
    expect(gc.body).toMatchObject({ retention: '2s', snapshots: 1 });
    expect(gc.body.segments).toBeGreaterThan(0);
    expect(gc.body.deleted.map((d) => d.key)).toEqual(dry.body.deleted.map((d) => d.key));

    let done: { state: string; error?: unknown } | undefined;
    for (let i = 0; i < 1500; i++) {
      done = (await tm.api<{ state: string; error?: unknown }>('GET', `/v1/restores/${created.body.id}`))
        .body;
      if (['succeeded', 'failed', 'cancelled'].includes(done.state)) break;
      await sleep(200);
    }
    expect(done?.state, JSON.stringify(done?.error)).toBe('succeeded');
    const client = await connect(cluster.url('during_gc'));
    try {
      expect(await fingerprint(client)).toEqual(last.fingerprint);
    } finally {
      await client.end();
    }

    // after the collection: restores from the window still exact, and the journal verifies
    const again = await restoreAndWait(tm, {
      source: 'main',
      target: { time: after[1]!.time },
      into: { url: cluster.url('after_gc') },
    });
    expect(again.state, JSON.stringify(again.error)).toBe('succeeded');
    const c2 = await connect(cluster.url('after_gc'));
    try {
      expect(await fingerprint(c2)).toEqual(after[1]!.fingerprint);
    } finally {
      await c2.end();
    }
    const verified = await tm.api<{ ok: boolean; problems: unknown[] }>('POST', '/v1/sources/main/verify');
    expect(verified.body.problems).toEqual([]);
    expect(verified.body.ok).toBe(true);
    const metrics = await fetch(`${tm.baseUrl}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/tidemark_gc_deleted_objects_total\{source="main"\} [1-9]/);
    // the CLI: nothing is left to collect
    const cli = await run(process.execPath, [CLI, 'gc', '--source', 'main', '--dry-run'], {
      env: { ...process.env, TIDEMARK_API_URL: tm.baseUrl, TIDEMARK_API_TOKEN: tm.token },
    });
    expect(cli.stdout).toMatch(
      /^would delete 0 snapshot\(s\), 0 segment\(s\): 0 objects, 0\.0 MiB \(retention 2s\)\n/,
    );
    expect(cli.stdout).toContain(`earliest restorable: ${compacted.time} (snapshot ${compacted.lsn})`);
  }, 240_000);
});
