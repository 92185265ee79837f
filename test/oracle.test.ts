import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertOracle, restoreAndWait, runWorkload, waitUntilRestorable } from './support/oracle-run.js';
import { connect, fingerprint, ORACLE_SCHEMA, ORACLE_STEPS, serverNow } from './support/oracle-workload.js';
import { TidemarkProcess } from './support/tidemark-process.js';

describe.each(['debian15', 'embedded18'] as const)('point-in-time oracle on %s', (flavor) => {
  let cluster: PostgresCluster;
  let dataDir: string;
  let tm: TidemarkProcess;

  beforeAll(async () => {
    cluster = await startPostgres({ flavor });
    const admin = await connect(cluster.url('postgres'));
    await admin.query('CREATE DATABASE source');
    await admin.end();
    const source = await connect(cluster.url('source'));
    await source.query(ORACLE_SCHEMA);
    await source.end();
    dataDir = await mkdtemp(path.join(tmpdir(), 'tidemark-oracle-'));
    tm = new TidemarkProcess({ sourceUrl: cluster.url('source'), dataDir });
    await tm.start();
  });

  afterAll(async () => {
    await tm?.stop();
    await cluster?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('restores to every recorded instant with identical contents', async () => {
    const checkpoints = await runWorkload(cluster.url('source'), ORACLE_STEPS);
    expect(new Set(checkpoints.map((c) => JSON.stringify(c.fingerprint))).size).toBeGreaterThan(8);
    await assertOracle(tm, 'main', checkpoints, (db) => cluster.url(db), 'pit');
  });

  it('restores the latest state, and a restart resumes without loss', async () => {
    await tm.stop();
    const source = await connect(cluster.url('source'));
    await source.query(`INSERT INTO accounts VALUES (7000, 'written while tidemark was down', 1)`);
    await tm.start();
    await source.query(`INSERT INTO accounts VALUES (7001, 'written after restart', 2)`);
    const expected = await fingerprint(source);
    const after = await serverNow(source);
    await source.end();
    await waitUntilRestorable(tm, 'main', after);
    const done = await restoreAndWait(tm, {
      source: 'main',
      target: { latest: true },
      into: { url: cluster.url('latest') },
    });
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    const restored = await connect(cluster.url('latest'));
    expect(await fingerprint(restored)).toEqual(expected);
    await restored.end();
  });
});
