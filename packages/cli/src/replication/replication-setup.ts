import {
  type ObjectStore,
  objectLockDays,
  resolveReplicaConfigs,
  type TidemarkConfig,
  TidemarkError,
} from '@tidemark/shared';
import type { Registry } from 'prom-client';
import type { ReplicatorLogger } from './region-replicator.js';
import { openReplicaStores } from './replica-stores.js';
import { Replicator } from './replicator.js';

/**
 * The replica regions of the configuration (TIDEMARK_REPLICAS or _FILE, validated here at
 * start), opened; S3 regions under the primary's Object Lock when it has one.
 */
export function openConfiguredReplicas(
  config: TidemarkConfig,
  logger?: { warn(fields: Record<string, unknown>, message: string): void },
): Map<string, ObjectStore> {
  const days = config.s3Bucket && config.s3ObjectLock ? objectLockDays(config) : undefined;
  return openReplicaStores(resolveReplicaConfigs(config), {
    ...(logger ? { logger } : {}),
    ...(config.s3ObjectLock && days !== undefined ? { objectLock: { mode: config.s3ObjectLock, days } } : {}),
  });
}

/** Starts replication to every region when any is configured; undefined otherwise. */
export function startReplication(
  primary: ObjectStore,
  replicas: ReadonlyMap<string, ObjectStore>,
  registry: Registry,
  logger: ReplicatorLogger,
): Replicator | undefined {
  if (replicas.size === 0) return undefined;
  for (const [name, store] of replicas) {
    // copying a store onto itself would report a region that is no copy at all
    if (store.description === primary.description)
      throw new TidemarkError(
        'CONFIG_INVALID',
        `TIDEMARK_REPLICAS: region ${name} is the primary store itself (${store.description}); give it another bucket, prefix or directory`,
      );
  }
  const replicator = new Replicator({ primary, replicas, registry, logger });
  replicator.start();
  logger.info(
    { regions: [...replicas].map(([name, store]) => `${name}=${store.description}`) },
    'replicating the journal to regions',
  );
  return replicator;
}
