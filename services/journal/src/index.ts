export { readTip } from './chain-head.ts';
export { type DurableSegmentInfo, Journal, type JournalOptions, type JournalStatus } from './journal.ts';
export { type JournalLogger, silentLogger } from './journal-logger.ts';
export { withRetries } from './retry.ts';
