export { readTip } from './chain-head.js';
export { type AssembledRecord, ChunkReassembler } from './chunk-reassembler.js';
export { type DurableSegmentInfo, Journal, type JournalOptions, type JournalStatus } from './journal.js';
export { type JournalLogger, silentLogger } from './journal-logger.js';
export {
  KafkaJournalConsumer,
  type KafkaJournalConsumerOptions,
  type KafkaJournalConsumerStatus,
  type KafkaJournalSourceStatus,
} from './kafka-journal-consumer.js';
export { withRetries } from './retry.js';
export { SourcePartitionAssigner } from './source-partition-assigner.js';
