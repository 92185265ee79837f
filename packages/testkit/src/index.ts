export * from './postgres-cluster.js';
export * from './object-store-conformance.js';
