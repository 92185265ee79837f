import path from 'node:path';
import { TidemarkError } from '../core/errors.js';
import type { RetentionDuration } from '../core/retention-duration.js';
import {
  type ApiToken,
  CONFIG_SETTINGS,
  type ConfigField,
  type LogLevel,
  SETTING_SCHEMAS,
  type SegmentCompressionSetting,
  type TablesWithoutKey,
} from './config-settings.js';
import type { ReplicaConfigs } from './replica-config.js';
import { objectLockDays, type RetentionBySource } from './retention-config.js';

export interface TidemarkConfig {
  /** absent: the CLI starts a demo PostgreSQL */
  readonly sourceUrl?: string;
  readonly sourceName: string;
  /** absolute */
  readonly dataDir: string;
  readonly host: string;
  /** 0: any free port */
  readonly port: number;
  /** absent: the CLI generates an admin token */
  readonly apiTokens?: readonly ApiToken[];
  readonly slotName: string;
  readonly publicationName: string;
  readonly tablesWithoutKey: TablesWithoutKey;
  readonly segmentMaxBytes: number;
  readonly segmentMaxAgeMs: number;
  /** how segments store their records; default zstd */
  readonly segmentCompression: SegmentCompressionSetting;
  /** set: segments are encrypted with keys from this file (loadKeyProvider) */
  readonly masterKeyFile?: string;
  /** set: segments are encrypted with these keys; never log it */
  readonly masterKey?: string;
  /** Ed25519 PKCS#8 PEM signing verification reports; absent: generated in the data dir */
  readonly reportSigningKeyFile?: string;
  /** 0 disables heartbeats */
  readonly heartbeatIntervalMs: number;
  readonly maxConcurrentRestores: number;
  /** set: compaction snapshots are built on this server (else the source server where known) */
  readonly compactionDatabaseUrl?: string;
  /** 0: no scheduled compaction */
  readonly compactionIntervalMs: number;
  readonly logLevel: LogLevel;
  /** set: distributed topology through Kafka */
  readonly kafkaBrokers?: readonly string[];
  readonly kafkaTopicPrefix: string;
  readonly kafkaGroupId: string;
  readonly kafkaSessionTimeoutMs: number;
  readonly kafkaHeartbeatIntervalMs: number;
  /** set: the journal lives in S3 (credentials from the AWS SDK's standard chain) */
  readonly s3Bucket?: string;
  readonly s3Prefix?: string;
  readonly s3Endpoint?: string;
  readonly s3Region: string;
  readonly s3ForcePathStyle: boolean;
  /** replica stores (regions) by name, from TIDEMARK_REPLICAS; see resolveReplicaConfigs */
  readonly replicas?: ReplicaConfigs;
  /** file with the replicas JSON, read by resolveReplicaConfigs */
  readonly replicasFile?: string;
  /** restorable window of every source; absent or null: keep everything (retentionOf) */
  readonly retention?: RetentionDuration | null;
  /** per-source overrides (null: keep everything) */
  readonly retentionBySource?: RetentionBySource;
  /** scheduled garbage collection in the restore service; 0: only on demand */
  readonly gcIntervalMs: number;
  /** set: segments and snapshot objects are written under S3 Object Lock */
  readonly s3ObjectLock?: 'governance' | 'compliance';
  readonly s3ObjectLockDays?: number;
}

type Parsed = { -readonly [F in ConfigField]?: unknown };

/** derived from the source name rather than fixed */
const DERIVED: ReadonlySet<ConfigField> = new Set(['slotName', 'publicationName']);

/**
 * Reads and validates every setting at once (CONFIG_SETTINGS, whose defaults are parsed
 * like any value), so that one start reports every mistake, each naming the variable and
 * what it expects. Empty values count as unset (compose files often pass `VAR=`).
 * The result is deep-frozen.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): TidemarkConfig {
  const values: Parsed = {};
  const errors: string[] = [];
  for (const setting of CONFIG_SETTINGS) {
    const given = env[setting.env]?.trim();
    const raw = given === undefined || given === '' ? undefined : given;
    if (raw === undefined && (setting.default === null || DERIVED.has(setting.field))) continue;
    const result = SETTING_SCHEMAS[setting.field].safeParse(raw ?? setting.default);
    if (result.success) {
      values[setting.field] = result.data;
    } else {
      const custom = result.error.issues.find((i) => i.code === 'custom' && i.message)?.message;
      const shown = setting.secret ? '' : ` (got ${JSON.stringify(raw)})`;
      errors.push(`${setting.env}: expected ${setting.expected}${custom ? `; ${custom}` : ''}${shown}`);
    }
  }

  const sourceName = typeof values.sourceName === 'string' ? values.sourceName : 'main';
  const derived = `tidemark_${sourceName.replace(/-/g, '_')}`;
  for (const setting of CONFIG_SETTINGS.filter((s) => DERIVED.has(s.field))) {
    if (values[setting.field] !== undefined || errors.some((e) => e.startsWith(`${setting.env}:`))) continue;
    // the default can outgrow PostgreSQL's 63-character names for long source names
    if (!SETTING_SCHEMAS[setting.field].safeParse(derived).success) {
      errors.push(
        `${setting.env}: the default ${derived} is not a valid name for source ${sourceName}; set ${setting.env}`,
      );
    }
    values[setting.field] = derived;
  }

  if (values.replicas !== undefined && values.replicasFile !== undefined) {
    errors.push('TIDEMARK_REPLICAS: set TIDEMARK_REPLICAS or TIDEMARK_REPLICAS_FILE, not both');
  }
  if (values.s3ObjectLock !== undefined) {
    if (values.s3Bucket === undefined)
      errors.push('TIDEMARK_S3_OBJECT_LOCK: Object Lock needs the journal in S3; set TIDEMARK_S3_BUCKET');
    else if (objectLockDays(values as Parameters<typeof objectLockDays>[0]) === undefined)
      errors.push(
        'TIDEMARK_S3_OBJECT_LOCK: set TIDEMARK_S3_OBJECT_LOCK_DAYS or TIDEMARK_RETENTION (the lock lasts as long as the retention by default)',
      );
  }
  if (values.masterKey !== undefined && values.masterKeyFile !== undefined) {
    errors.push('TIDEMARK_MASTER_KEY: set TIDEMARK_MASTER_KEY_FILE or TIDEMARK_MASTER_KEY, not both');
  }

  if (errors.length > 0) {
    throw new TidemarkError(
      'CONFIG_INVALID',
      `invalid configuration (${errors.length} ${errors.length === 1 ? 'setting' : 'settings'}):\n  ${errors.join('\n  ')}`,
      { details: { variables: errors.map((e) => e.slice(0, e.indexOf(':'))) } },
    );
  }
  const { dataDir, ...rest } = values as Omit<Mutable<TidemarkConfig>, 'dataDir'> & { dataDir: string };
  return deepFreeze({ ...rest, dataDir: path.resolve(dataDir) });
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
