// The engine's types are the source of truth; the API's port types of the same names are
// structural views of them and stay internal to the API.

export {
  type ApiRole,
  type ApiToken,
  type BuildApiOptions,
  buildApi,
  type HealthPort,
  REQUEST_ID_HEADER,
  type ReadinessCheck,
  ROLE_PERMISSIONS,
} from './api/index.js';
export * from './engine/index.js';
export { buildRestoreApp, type RestoreApp, type RestoreAppOptions } from './restore-app.js';
