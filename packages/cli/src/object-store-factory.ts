import path from 'node:path';
import {
  LocalObjectStore,
  type ObjectStore,
  objectLockDays,
  RetentionLockingStore,
  S3ObjectStore,
  type TidemarkConfig,
} from '@tidemark/shared';

/**
 * S3 when TIDEMARK_S3_BUCKET is set (credentials from the AWS SDK's standard chain), else
 * `<dataDir>/journal`. With TIDEMARK_S3_OBJECT_LOCK, segments and snapshot objects are
 * written under Object Lock for TIDEMARK_S3_OBJECT_LOCK_DAYS (default: the retention).
 */
export function openObjectStore(config: TidemarkConfig): ObjectStore {
  if (config.s3Bucket) {
    const s3 = new S3ObjectStore({
      bucket: config.s3Bucket,
      region: config.s3Region,
      forcePathStyle: config.s3ForcePathStyle,
      ...(config.s3Prefix ? { prefix: config.s3Prefix } : {}),
      ...(config.s3Endpoint ? { endpoint: config.s3Endpoint } : {}),
      ...(config.s3ObjectLock ? { objectLockMode: config.s3ObjectLock } : {}),
    });
    const days = config.s3ObjectLock ? objectLockDays(config) : undefined;
    return days === undefined ? s3 : new RetentionLockingStore(s3, days);
  }
  return new LocalObjectStore(path.join(config.dataDir, 'journal'));
}
