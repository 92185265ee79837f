import { createLogger, initChecksums, type TidemarkConfig, TidemarkError } from '@tidemark/shared';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { openObjectStore } from './object-store-factory.js';
import { startOpsServer } from './ops/ops-server.js';
import { openConfiguredReplicas, startReplication } from './replication/replication-setup.js';
import type { RunningRole } from './running-role.js';

/**
 * `tidemark replicate`: only the replicator (the journal role and `tidemark up` run one
 * too), for deployments that copy to regions from elsewhere than the journal processes.
 * Run one per deployment: two would copy the same objects twice, harmlessly but wastefully.
 */
export async function runReplicateRole(config: TidemarkConfig): Promise<RunningRole> {
  const logger = createLogger({ name: 'tidemark-replicate', level: config.logLevel });
  await initChecksums();
  const store = openObjectStore(config);
  const replicas = openConfiguredReplicas(config, logger);
  if (replicas.size === 0) {
    throw new TidemarkError(
      'CONFIG_INVALID',
      'tidemark replicate needs TIDEMARK_REPLICAS or TIDEMARK_REPLICAS_FILE (the regions to copy the journal to)',
    );
  }
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const replicator = startReplication(store, replicas, registry, logger.child({ component: 'replicator' }))!;
  const ops = await startOpsServer({
    host: config.host,
    port: config.port,
    registry,
    readiness: () => ({ replication: replicator.readiness() }),
  });
  logger.info({ ops: ops.url, primary: store.description }, 'replicator running');
  return {
    stop: async () => {
      await ops.close();
      await replicator.stop();
    },
  };
}
