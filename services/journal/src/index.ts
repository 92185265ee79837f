export { readTip } from './chain-head.js';
export { type DurableSegmentInfo, Journal, type JournalOptions, type JournalStatus } from './journal.js';
export { type JournalLogger, silentLogger } from './journal-logger.js';
export { withRetries } from './retry.js';
