export * from './fault-injecting-store.js';
export * from './kafka-broker.js';
export * from './object-store-conformance.js';
export * from './postgres-cluster.js';
export * from './s3-fault-proxy.js';
export * from './s3-server.js';
