export * from './object-store-conformance.js';
export * from './postgres-cluster.js';
