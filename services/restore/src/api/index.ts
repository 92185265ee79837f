export type {
  ApiRole,
  ApiToken,
  HealthPort,
  ReadinessCheck,
  RestoreJobView,
  RestorePoint,
  RestorePointsPort,
  RestoreRequest,
  RestoreState,
  RestoresPort,
  RestoreTargetInput,
  SourceSummary,
  SourcesPort,
  VerifyPort,
  VerifyProblem,
  VerifyReport,
} from './api-ports.js';
export { type Permission, ROLE_PERMISSIONS } from './auth-plugin.js';
export { type BuildApiOptions, buildApi, REQUEST_ID_HEADER } from './build-api.js';
export { HTTP_DURATION_METRIC, HTTP_REQUESTS_METRIC } from './http-metrics.js';
export { parseRestorePointRequest, parseRestoreRequest } from './request-schemas.js';
