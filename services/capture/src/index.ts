export { type BaseSnapshotOptions, type BaseSnapshotResult, ensureBaseSnapshot } from './base-snapshot.js';
export { type CaptureLogger, silentLogger } from './capture-logger.js';
export { CaptureService, type CaptureServiceOptions, type CaptureStatus } from './capture-service.js';
export * from './pgoutput-decoder.js';
export {
  checkSource,
  ensurePublication,
  findTablesWithoutKey,
  type TablesWithoutKeyPolicy,
} from './source-setup.js';
export * from './transaction-assembler.js';
