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

export interface EmbeddedSetupOptions {
  /** more databases to create next to `source` */
  readonly extraDatabases?: readonly string[];
  /** environment for `tidemark up` (API tokens, retention...) */
  readonly env?: Readonly<Record<string, string>>;
}

export async function startEmbeddedSetup(
  flavor: 'debian15' | 'embedded18',
  schemaSql: string,
  options: readonly string[] | EmbeddedSetupOptions = {},
): Promise<EmbeddedSetup> {
  const { extraDatabases = [], env } = Array.isArray(options)
    ? { extraDatabases: options as readonly string[], env: undefined }
    : (options as EmbeddedSetupOptions);
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
    tm: new TidemarkProcess({
      sourceUrl: cluster.url('source'),
      dataDir,
      ...(env ? { env: { ...env } } : {}),
    }),
    teardown: async () => {
      await setup.tm.stop();
      await cluster.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  await setup.tm.start();
  return setup;
}
