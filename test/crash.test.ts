import type { PostgresCluster } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type EmbeddedSetup, startEmbeddedSetup } from './support/embedded-setup.js';
import { assertOracle, runWorkload } from './support/oracle-run.js';
import { ORACLE_SCHEMA, ORACLE_STEPS } from './support/oracle-workload.js';
import { sleep, type TidemarkProcess } from './support/tidemark-process.js';

/**
 * kill -9 of the embedded process, again and again while the workload runs (between
 * steps and in the middle of the 100k-row transaction's capture): after each restart the
 * slot replays from its confirmed position, the journal drops what it already has, and
 * the oracle must still hold — nothing lost, nothing doubled.
 */
describe.each(['debian15', 'embedded18'] as const)('crash safety of the embedded process on %s', (flavor) => {
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

  it('loses and doubles nothing across repeated kill -9', async () => {
    let kills = 0;
    const checkpoints = await runWorkload(cluster.url('source'), ORACLE_STEPS, async (i) => {
      if (i % 2 === 0) {
        // mid-flight: the next segment may be half written when the process dies
        await sleep(Math.floor(Math.random() * 150));
        await tm.kill9();
        kills++;
        await tm.start();
      }
    });
    // and once more while the journal is catching up with the big transaction
    await tm.kill9();
    kills++;
    await tm.start();
    await sleep(300);
    await tm.kill9();
    kills++;
    await tm.start();
    if (kills < 5) throw new Error('the crash test must kill the process at least 5 times');
    await assertOracle(tm, 'main', checkpoints, (db) => cluster.url(db), 'crash');
  });
});
