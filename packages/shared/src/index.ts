export * from './config/config-settings.js';
export * from './config/replica-config.js';
export * from './config/retention-config.js';
export * from './config/tidemark-config.js';
export * from './core/chain-verifier.js';
export * from './core/change-model.js';
export * from './core/checksum.js';
export * from './core/error-codes.js';
export * from './core/errors.js';
export * from './core/journal-lease.js';
export * from './core/lsn.js';
export * from './core/object-layout.js';
export * from './core/record-codec.js';
export * from './core/retention-duration.js';
export * from './core/retention-plan.js';
export { DEFAULT_BLOCK_BYTES } from './core/segment-blocks.js';
export {
  type EncodedSegment,
  type EncodeSegmentInput,
  encodeSegment,
  type SegmentCompression,
  type SegmentDataKey,
  type SegmentRecordInput,
  type SegmentSealing,
} from './core/segment-encoder.js';
export {
  isValidKeyId,
  SEGMENT_FLAG_COMPRESSED,
  SEGMENT_FLAG_ENCRYPTED,
  SEGMENT_FOOTER_LENGTH,
  SEGMENT_VERSION,
  type SegmentEncryptionHeader,
  type SegmentHeader,
  type SegmentIndexEntry,
} from './core/segment-format.js';
export * from './core/segment-keys.js';
export {
  findFirstRecordAfterTime,
  type ReadSegment,
  type ReadSegmentOptions,
  readSegment,
  type SegmentRecordView,
} from './core/segment-reader.js';
export {
  type SegmentProblem,
  type SegmentProblemKind,
  type SegmentSealingReport,
  type SegmentVerification,
  type VerifySegmentOptions,
  verifySegment,
} from './core/segment-verifier.js';
export * from './core/snapshot-anchor.js';
export * from './core/snapshot-manifest.js';
export {
  type OpenTableOptions,
  openTableData,
  peekTableHeader,
  type SealTableOptions,
  sealTableData,
  TABLE_CODEC_MAGIC,
  type TableCodecHeader,
} from './core/snapshot-table-codec.js';
export * from './core/table-snapshot.js';
export * from './core/time.js';
export * from './core/transaction-sink.js';
export * from './crypto/local-key-provider.js';
export * from './crypto/report-signature.js';
export * from './kafka/kafka-log.js';
export * from './log/logger.js';
export * from './log/redact-url.js';
export * from './snapshot/snapshot-table-writer.js';
export * from './store/local-object-store.js';
export { compareKeys, validateKey } from './store/object-key.js';
export * from './store/object-store.js';
export * from './store/retention-locking-store.js';
export * from './store/s3-object-store.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy, type StoreLogger } from './store/s3-retry.js';
