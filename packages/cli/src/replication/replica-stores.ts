import {
  compareKeys,
  LocalObjectStore,
  type ObjectStore,
  type ReplicaConfig,
  type ReplicaConfigs,
  RetentionLockingStore,
  S3ObjectStore,
  type StoreLogger,
} from '@tidemark/shared';

/**
 * Opens the store of every replica region. S3 replicas take their credentials from the
 * environment variables named in `credentialsEnv`, else from the AWS SDK's standard chain
 * (as the primary does); a replica whose region is not given uses us-east-1.
 *
 * With `objectLock` (the primary's TIDEMARK_S3_OBJECT_LOCK), S3 replicas write segments and
 * snapshot objects under the same Object Lock mode and period as the primary (counted from
 * the copy, so a region's copy is never released before the primary's original); their
 * buckets need Object Lock enabled. Directory replicas are not locked: a disk cannot refuse
 * its owner a delete (the local store's lock records would bind only Tidemark itself), so
 * protect them with the filesystem (snapshots, immutable backups) if they must be WORM.
 */
export interface ReplicaObjectLock {
  readonly mode: 'governance' | 'compliance';
  readonly days: number;
}

export function openReplicaStores(
  replicas: ReplicaConfigs,
  options: { env?: NodeJS.ProcessEnv; logger?: StoreLogger; objectLock?: ReplicaObjectLock } = {},
): Map<string, ObjectStore> {
  const stores = new Map<string, ObjectStore>();
  for (const name of Object.keys(replicas).sort(compareKeys)) {
    stores.set(
      name,
      openReplicaStore(replicas[name]!, options.env ?? process.env, options.logger, options.objectLock),
    );
  }
  return stores;
}

function openReplicaStore(
  replica: ReplicaConfig,
  env: NodeJS.ProcessEnv,
  logger?: StoreLogger,
  objectLock?: ReplicaObjectLock,
): ObjectStore {
  if ('dir' in replica) return new LocalObjectStore(replica.dir);
  const s3 = replica.s3;
  const creds = s3.credentialsEnv;
  const store = new S3ObjectStore({
    bucket: s3.bucket,
    region: s3.region ?? 'us-east-1',
    ...(s3.prefix ? { prefix: s3.prefix } : {}),
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    ...(s3.forcePathStyle === undefined ? {} : { forcePathStyle: s3.forcePathStyle }),
    ...(creds
      ? {
          credentials: {
            accessKeyId: env[creds.accessKeyId] ?? '',
            secretAccessKey: env[creds.secretAccessKey] ?? '',
            ...(creds.sessionToken && env[creds.sessionToken]
              ? { sessionToken: env[creds.sessionToken] }
              : {}),
          },
        }
      : {}),
    ...(logger ? { logger } : {}),
    ...(objectLock ? { objectLockMode: objectLock.mode } : {}),
  });
  return objectLock ? new RetentionLockingStore(store, objectLock.days) : store;
}
