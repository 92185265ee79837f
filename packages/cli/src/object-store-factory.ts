import path from 'node:path';
import { LocalObjectStore, type ObjectStore, S3ObjectStore, type TidemarkConfig } from '@tidemark/shared';

/** S3 when TIDEMARK_S3_BUCKET is set (credentials from the AWS SDK's standard chain), else `<dataDir>/journal`. */
export function openObjectStore(config: TidemarkConfig): ObjectStore {
  if (config.s3Bucket) {
    return new S3ObjectStore({
      bucket: config.s3Bucket,
      region: config.s3Region,
      forcePathStyle: config.s3ForcePathStyle,
      ...(config.s3Prefix ? { prefix: config.s3Prefix } : {}),
      ...(config.s3Endpoint ? { endpoint: config.s3Endpoint } : {}),
    });
  }
  return new LocalObjectStore(path.join(config.dataDir, 'journal'));
}
