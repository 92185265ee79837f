import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import { connect } from './oracle-workload.js';
import { TidemarkProcess } from './tidemark-process.js';

/** A throw-away cluster with a `source` database holding `schemaSql`, captured by `tidemark up`. */
export interface EmbeddedSetup {
  readonly cluster: PostgresCluster;
  readonly dataDir: string;
  tm: TidemarkProcess;
  teardown(): Promise<void>;
}

export async function startEmbeddedSetup(
  flavor: 'debian15' | 'embedded18',
  schemaSql: string,
  extraDatabases: readonly string[] = [],
): Promise<EmbeddedSetup> {
  const cluster = await startPostgres({ flavor });
  const admin = await connect(cluster.url('postgres'));
  for (const db of ['source', ...extraDatabases]) await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const source = await connect(cluster.url('source'));
  await source.query(schemaSql);
  await source.end();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tidemark-e2e-'));
  const setup: EmbeddedSetup = {
    cluster,
    dataDir,
    tm: new TidemarkProcess({ sourceUrl: cluster.url('source'), dataDir }),
    teardown: async () => {
      await setup.tm.stop();
      await cluster.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  await setup.tm.start();
  return setup;
}
