import type { PostgresCluster } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedSetup, startEmbeddedSetup } from './support/embedded-setup.js';
import { assertOracle, restoreAndWait, runWorkload, waitUntilRestorable } from './support/oracle-run.js';
import { connect, fingerprint, ORACLE_SCHEMA, ORACLE_STEPS, serverNow } from './support/oracle-workload.js';
import type { TidemarkProcess } from './support/tidemark-process.js';

describe.each(['debian15', 'embedded18'] as const)('point-in-time oracle on %s', (flavor) => {
  let setup: EmbeddedSetup;
  let cluster: PostgresCluster;
  let tm: TidemarkProcess;

  beforeAll(async () => {
    setup = await startEmbeddedSetup(flavor, ORACLE_SCHEMA);
    ({ cluster, tm } = setup);
  });

  afterAll(async () => {
    await setup?.teardown();
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
