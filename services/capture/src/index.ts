export { type BaseSnapshotOptions, type BaseSnapshotResult, ensureBaseSnapshot } from './base-snapshot.js';
export { type CaptureLogger, silentLogger } from './capture-logger.js';
export { CaptureService, type CaptureServiceOptions, type CaptureStatus } from './capture-service.js';
export { type DdlCaptureState, ddlCaptureState, ensureDdlCapture, installDdlCapture } from './ddl-capture.js';
export {
  KAFKA_HEADER_CHUNK,
  KAFKA_HEADER_COMMIT_LSN,
  KAFKA_HEADER_END_LSN,
  KAFKA_HEADER_XXH64,
} from './kafka-message-format.js';
export { KafkaTransactionSink, type KafkaTransactionSinkOptions } from './kafka-transaction-sink.js';
export * from './pgoutput-decoder.js';
export {
  checkSource,
  ensurePublication,
  findTablesWithoutKey,
  type TablesWithoutKeyPolicy,
} from './source-setup.js';
export { type TableSnapshotOptions, type TableSnapshotResult, takeTableSnapshot } from './table-snapshot.js';
export * from './transaction-assembler.js';
