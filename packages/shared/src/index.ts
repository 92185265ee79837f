export * from './core/change-model.js';
export * from './core/error-codes.js';
export * from './core/errors.js';
export * from './core/lsn.js';
export * from './core/object-layout.js';
export * from './core/snapshot-manifest.js';
export * from './core/transaction-sink.js';
export * from './store/object-store.js';
