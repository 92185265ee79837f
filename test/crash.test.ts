import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { assertOracle, runWorkload } from './support/oracle-run.js';
import { connect, ORACLE_SCHEMA, ORACLE_STEPS } from './support/oracle-workload.js';
import { sleep, TidemarkProcess } from './support/tidemark-process.js';

/**
 * kill -9 of the embedded process, again and again while the workload runs (between
 * steps and in the middle of the 100k-row transaction's capture): after each restart the
 * slot replays from its confirmed position, the journal drops what it already has, and
 * the oracle must still hold — nothing lost, nothing doubled.
 */
describe.each(['debian15', 'embedded18'] as const)('crash safety of the embedded process on %s', (flavor) => {
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
    dataDir = await mkdtemp(path.join(tmpdir(), 'tidemark-crash-'));
    tm = new TidemarkProcess({ sourceUrl: cluster.url('source'), dataDir });
    await tm.start();
  });

  afterAll(async () => {
    await tm?.stop();
    await cluster?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
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
