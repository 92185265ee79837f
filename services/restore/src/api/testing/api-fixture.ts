import { Writable } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { ApiToken, SourceSummary } from '../api-ports.js';
import { buildApi } from '../build-api.js';
import {
  InMemoryHealth,
  InMemoryRestorePoints,
  InMemoryRestores,
  InMemorySources,
  InMemoryVerify,
} from './in-memory-ports.js';

export const TOKENS = {
  restore: 'tmk_restore_5f2b8c1e9a7d4e3f',
  audit: 'tmk_audit_0c9e4b7a2d6f1e8b',
  admin: 'tmk_admin_8a1d3f5c7e9b2d4f',
} as const;

export const API_TOKENS: ApiToken[] = [
  { name: 'dba', role: 'restore', token: TOKENS.restore },
  { name: 'auditor', role: 'audit', token: TOKENS.audit },
  { name: 'ops', role: 'admin', token: TOKENS.admin },
];

export const MAIN_SOURCE: SourceSummary = {
  name: 'main',
  earliestRestorableTime: '2026-11-20T00:00:00.000000Z',
  latestRestorableTime: '2026-11-23T10:41:07.123456Z',
  latestLsn: '16/B374D848',
  snapshotLsn: '16/A0000000',
};

export interface ApiFixture {
  app: FastifyInstance;
  sources: InMemorySources;
  restores: InMemoryRestores;
  restorePoints: InMemoryRestorePoints;
  verify: InMemoryVerify;
  health: InMemoryHealth;
  registry: Registry;
  /** JSON log lines written so far (raw text, one per entry) */
  logLines: string[];
}

/**
 * The API over in-memory ports. `logger` builds the pino logger given a destination
 * stream (pass `(stream) => pino({ level: 'trace' }, stream)`); without it, no logs.
 */
export async function apiFixture(
  options: { logger?: (destination: Writable) => FastifyBaseLogger; eventsMinIntervalMs?: number } = {},
): Promise<ApiFixture> {
  const sources = new InMemorySources([MAIN_SOURCE]);
  const restores = new InMemoryRestores(sources);
  const restorePoints = new InMemoryRestorePoints(sources);
  restorePoints.writable.add('main');
  const verify = new InMemoryVerify();
  verify.reports.set('main', {
    ok: true,
    segments: 3,
    records: 120,
    firstLsn: '16/A0000100',
    lastLsn: '16/B374D848',
    problems: [],
  });
  const health = new InMemoryHealth();
  const registry = new Registry();
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  const app = await buildApi({
    sources,
    restores,
    verify,
    health,
    restorePoints,
    ...(options.eventsMinIntervalMs === undefined
      ? {}
      : { eventsMinIntervalMs: options.eventsMinIntervalMs }),
    tokens: API_TOKENS,
    metricsRegistry: registry,
    logger: options.logger ? options.logger(destination) : false,
  });
  return { app, sources, restores, restorePoints, verify, health, registry, logLines };
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}
