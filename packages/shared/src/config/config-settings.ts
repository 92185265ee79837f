import { z } from 'zod';
import { isValidSourceName } from '../core/object-layout.js';
import { parseMasterKeys } from '../crypto/master-keys.js';
import { parseReplicaConfigs } from './replica-config.js';
import { parseRetentionBySource, parseRetentionSetting } from './retention-config.js';

/**
 * Every setting Tidemark reads from the environment, as data: `loadConfig` validates
 * against it and the README's configuration table is generated from it, so the two
 * cannot drift apart.
 */
export type ApiRole = 'restore' | 'audit' | 'admin';
export type TablesWithoutKey = 'refuse' | 'replica-identity-full' | 'exclude';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type SegmentCompressionSetting = 'zstd' | 'none';

export interface ApiToken {
  readonly name: string;
  readonly role: ApiRole;
  readonly token: string;
}

export interface ConfigSetting {
  readonly env: string;
  readonly field: string;
  readonly description: string;
  /** the default as shown to people, or null when unset means "not configured" */
  readonly default: string | null;
  /** what a valid value looks like, quoted in error messages */
  readonly expected: string;
  /** never echo the value in errors */
  readonly secret?: boolean;
}

const MiB = 1024 * 1024;
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const TOKEN_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const ROLES: readonly ApiRole[] = ['restore', 'audit', 'admin'];
const MIN_TOKEN_LENGTH = 16;

const wholeNumber = (min: number, max: number) =>
  z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(min).max(max));

const postgresUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.hostname !== '';
  } catch {
    return false;
  }
});

export const SETTING_SCHEMAS = {
  sourceUrl: postgresUrl,
  sourceName: z.string().refine(isValidSourceName),
  dataDir: z.string().min(1),
  host: z
    .string()
    .min(1)
    .regex(/^[^\s/]+$/),
  port: wholeNumber(0, 65_535),
  apiTokens: z.string().transform((s, ctx) => {
    const parsed = parseApiTokens(s);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  }),
  slotName: z.string().regex(IDENTIFIER),
  publicationName: z.string().regex(IDENTIFIER),
  tablesWithoutKey: z.enum(['refuse', 'replica-identity-full', 'exclude']),
  segmentMaxBytes: wholeNumber(64 * 1024, 1024 * MiB),
  segmentMaxAgeMs: wholeNumber(1, 3_600_000),
  segmentCompression: z.enum(['zstd', 'none']),
  masterKeyFile: z.string().min(1),
  reportSigningKeyFile: z.string().min(1),
  // validated here, kept as text: the key provider parses it again (keys are not config values to pass around)
  masterKey: z.string().superRefine((s, ctx) => {
    const parsed = parseMasterKeys(s);
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
  }),
  heartbeatIntervalMs: wholeNumber(0, 3_600_000),
  maxConcurrentRestores: wholeNumber(1, 64),
  compactionDatabaseUrl: postgresUrl,
  compactionIntervalMs: wholeNumber(0, 30 * 24 * 3_600_000),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  kafkaBrokers: z
    .string()
    .transform((s) => s.split(',').map((b) => b.trim()))
    .pipe(z.array(z.string().regex(/^[^\s:/]+:\d{1,5}$/)).min(1)),
  kafkaTopicPrefix: z.string().regex(/^[A-Za-z0-9._-]{0,200}$/),
  kafkaGroupId: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/),
  kafkaSessionTimeoutMs: wholeNumber(1000, 600_000),
  kafkaHeartbeatIntervalMs: wholeNumber(100, 60_000),
  s3Bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/),
  s3Prefix: z.string().regex(/^([A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*)?$/),
  s3Endpoint: z.string().url(),
  s3Region: z.string().regex(/^[a-z0-9-]{1,40}$/),
  s3ForcePathStyle: z.enum(['true', 'false']).transform((v) => v === 'true'),
  replicas: z.string().transform((s, ctx) => {
    const parsed = parseReplicaConfigs(s);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  }),
  replicasFile: z.string().min(1),
  retention: z.string().transform((s, ctx) => {
    const parsed = parseRetentionSetting(s);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  }),
  retentionBySource: z.string().transform((s, ctx) => {
    const parsed = parseRetentionBySource(s);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  }),
  gcIntervalMs: wholeNumber(0, 7 * 86_400_000),
  s3ObjectLock: z.enum(['governance', 'compliance']),
  s3ObjectLockDays: wholeNumber(1, 36_500),
} as const;

export type ConfigField = keyof typeof SETTING_SCHEMAS;

export const CONFIG_SETTINGS: readonly (ConfigSetting & { readonly field: ConfigField })[] = Object.freeze([
  {
    env: 'TIDEMARK_SOURCE_URL',
    field: 'sourceUrl',
    description:
      'PostgreSQL to protect (wal_level=logical). Unset: `tidemark up` starts a throw-away demo server',
    default: null,
    expected: 'a postgres:// or postgresql:// URL with a host',
    secret: true,
  },
  {
    env: 'TIDEMARK_SOURCE_NAME',
    field: 'sourceName',
    description: 'name of the source in the journal',
    default: 'main',
    expected:
      'lower-case letters, digits, "_" and "-", starting with a letter or digit, at most 63 characters',
  },
  {
    env: 'TIDEMARK_DATA_DIR',
    field: 'dataDir',
    description: 'local journal and state directory',
    default: './.tidemark',
    expected: 'a directory path',
  },
  {
    env: 'TIDEMARK_HOST',
    field: 'host',
    description: 'address the API listens on',
    default: '127.0.0.1',
    expected: 'a host name or IP address',
  },
  {
    env: 'TIDEMARK_PORT',
    field: 'port',
    description: 'API port (0: any free port)',
    default: '8080',
    expected: 'a TCP port 0-65535',
  },
  {
    env: 'TIDEMARK_API_TOKENS',
    field: 'apiTokens',
    description:
      'API tokens as `name:role:token,...`, role restore|audit|admin. Unset: one admin token is generated',
    default: null,
    expected: `comma-separated name:role:token entries, role one of ${ROLES.join('|')}, tokens of at least ${MIN_TOKEN_LENGTH} characters`,
    secret: true,
  },
  {
    env: 'TIDEMARK_SLOT_NAME',
    field: 'slotName',
    description: 'replication slot on the source',
    default: 'tidemark_<source name, - as _>',
    expected:
      'a lower-case identifier (letters, digits, "_"; at most 63 characters, not starting with a digit)',
  },
  {
    env: 'TIDEMARK_PUBLICATION_NAME',
    field: 'publicationName',
    description: 'publication on the source',
    default: 'tidemark_<source name, - as _>',
    expected:
      'a lower-case identifier (letters, digits, "_"; at most 63 characters, not starting with a digit)',
  },
  {
    env: 'TIDEMARK_TABLES_WITHOUT_KEY',
    field: 'tablesWithoutKey',
    description: 'what to do with tables that have no primary key or replica identity',
    default: 'refuse',
    expected: 'one of refuse, replica-identity-full, exclude',
  },
  {
    env: 'TIDEMARK_SEGMENT_MAX_BYTES',
    field: 'segmentMaxBytes',
    description: 'segment rotation size',
    default: String(16 * MiB),
    expected: `a whole number of bytes from ${64 * 1024} to ${1024 * MiB}`,
  },
  {
    env: 'TIDEMARK_SEGMENT_MAX_AGE_MS',
    field: 'segmentMaxAgeMs',
    description: 'segment rotation age: the archive RPO',
    default: '1000',
    expected: 'a whole number of milliseconds from 1 to 3600000',
  },
  {
    env: 'TIDEMARK_SEGMENT_COMPRESSION',
    field: 'segmentCompression',
    description: 'compression of segment records (zstd in blocks of 256 KiB; none writes plain segments)',
    default: 'zstd',
    expected: 'zstd or none',
  },
  {
    env: 'TIDEMARK_MASTER_KEY_FILE',
    field: 'masterKeyFile',
    description:
      'file with the master key(s) that encrypt segments (AES-256-GCM, a data key per segment): lines of `id:<base64 of 32 bytes>`, the last one newest; add a line to rotate. Unset (and no TIDEMARK_MASTER_KEY): segments are not encrypted',
    default: null,
    expected: 'a file path',
  },
  {
    env: 'TIDEMARK_MASTER_KEY',
    field: 'masterKey',
    description: 'the master key(s) inline instead of a file, `id:<base64>,...` (the last one newest)',
    default: null,
    expected: 'comma-separated id:<base64 of 32 bytes> entries (or one bare base64 key)',
    secret: true,
  },
  {
    env: 'TIDEMARK_REPORT_SIGNING_KEY_FILE',
    field: 'reportSigningKeyFile',
    description:
      'Ed25519 private key (PEM, PKCS#8) that signs verification reports. Unset: one is generated on first start as `report-signing-key.pem` in the data directory (mode 0600) and its public key logged',
    default: null,
    expected: 'a file path',
  },
  {
    env: 'TIDEMARK_HEARTBEAT_INTERVAL_MS',
    field: 'heartbeatIntervalMs',
    description: 'heartbeat interval (0 disables)',
    default: '1000',
    expected: 'a whole number of milliseconds from 0 to 3600000',
  },
  {
    env: 'TIDEMARK_MAX_CONCURRENT_RESTORES',
    field: 'maxConcurrentRestores',
    description: 'restores running at once; more are queued',
    default: '2',
    expected: 'a whole number from 1 to 64',
  },
  {
    env: 'TIDEMARK_COMPACTION_DATABASE_URL',
    field: 'compactionDatabaseUrl',
    description:
      'PostgreSQL server where compaction snapshots are built: a scratch database is created there (the user needs CREATEDB), restored to the journal tip and dropped. Unset: `tidemark up` uses the source server, `tidemark restore` the source server when TIDEMARK_SOURCE_URL is set, else compaction is off',
    default: null,
    expected: 'a postgres:// or postgresql:// URL with a host',
    secret: true,
  },
  {
    env: 'TIDEMARK_COMPACTION_INTERVAL_MS',
    field: 'compactionIntervalMs',
    description:
      'how often the restore service builds a compaction snapshot of each source whose journal moved past its newest snapshot (0 disables; on demand: `POST /v1/sources/:source/snapshots`)',
    default: '21600000',
    expected: 'a whole number of milliseconds from 0 to 2592000000',
  },
  {
    env: 'TIDEMARK_LOG_LEVEL',
    field: 'logLevel',
    description: 'log level',
    default: 'info',
    expected: 'one of fatal, error, warn, info, debug, trace, silent',
  },
  {
    env: 'TIDEMARK_KAFKA_BROKERS',
    field: 'kafkaBrokers',
    description:
      'Kafka bootstrap brokers `host:port,...`. Set: capture publishes to Kafka and the journal consumes it',
    default: null,
    expected: 'comma-separated host:port entries',
  },
  {
    env: 'TIDEMARK_KAFKA_TOPIC_PREFIX',
    field: 'kafkaTopicPrefix',
    description: 'topic of a source = prefix + source name',
    default: 'tidemark.',
    expected: 'letters, digits, ".", "_" and "-"',
  },
  {
    env: 'TIDEMARK_KAFKA_GROUP_ID',
    field: 'kafkaGroupId',
    description: 'consumer group of the journal processes',
    default: 'tidemark-journal',
    expected: 'letters, digits, ".", "_" and "-"',
  },
  {
    env: 'TIDEMARK_KAFKA_SESSION_TIMEOUT_MS',
    field: 'kafkaSessionTimeoutMs',
    description: 'journal consumer session timeout: how long a dead journal process holds its sources',
    default: '30000',
    expected: 'a whole number of milliseconds from 1000 to 600000',
  },
  {
    env: 'TIDEMARK_KAFKA_HEARTBEAT_INTERVAL_MS',
    field: 'kafkaHeartbeatIntervalMs',
    description: 'journal consumer heartbeat interval (well below the session timeout)',
    default: '3000',
    expected: 'a whole number of milliseconds from 100 to 60000',
  },
  {
    env: 'TIDEMARK_S3_BUCKET',
    field: 's3Bucket',
    description: 'S3 bucket of the journal. Set: the journal lives in S3 instead of the data directory',
    default: null,
    expected: 'an S3 bucket name',
  },
  {
    env: 'TIDEMARK_S3_PREFIX',
    field: 's3Prefix',
    description: 'key prefix inside the bucket',
    default: null,
    expected: 'a key prefix like tidemark/prod (no leading or trailing /)',
  },
  {
    env: 'TIDEMARK_S3_ENDPOINT',
    field: 's3Endpoint',
    description: 'endpoint of an S3-compatible store (MinIO...); unset: AWS',
    default: null,
    expected: 'a URL like http://minio:9000',
  },
  {
    env: 'TIDEMARK_S3_REGION',
    field: 's3Region',
    description: 'S3 region',
    default: 'us-east-1',
    expected: 'a region name like eu-west-1',
  },
  {
    env: 'TIDEMARK_S3_FORCE_PATH_STYLE',
    field: 's3ForcePathStyle',
    description: 'path-style bucket addressing (most S3-compatible stores need it)',
    default: 'false',
    expected: 'true or false',
  },
  {
    env: 'TIDEMARK_REPLICAS',
    field: 'replicas',
    description:
      'replica stores (regions) the journal is copied to, as JSON `{"eu-west": {"s3": {"bucket", "prefix", "endpoint", "region", "forcePathStyle", "credentialsEnv"}}, "dr-disk": {"dir": "/backup"}}`; restores can read a region with `"from"`',
    default: null,
    expected: 'a JSON object of region name ([a-z0-9-]{1,32}) → {"s3": {...}} or {"dir": "..."}',
  },
  {
    env: 'TIDEMARK_REPLICAS_FILE',
    field: 'replicasFile',
    description: 'file holding the TIDEMARK_REPLICAS JSON instead',
    default: null,
    expected: 'a file path',
  },
  {
    env: 'TIDEMARK_RETENTION',
    field: 'retention',
    description:
      'restorable window of every source, e.g. `7d`, `36h`: older snapshots and segments are deleted by the garbage collector. Unset or `off`: keep everything',
    default: null,
    expected: 'a duration like 7d, 36h, 90m (units s, m, h, d, w) or off',
  },
  {
    env: 'TIDEMARK_RETENTION_BY_SOURCE',
    field: 'retentionBySource',
    description:
      'per-source retention overriding TIDEMARK_RETENTION, as JSON `{"main": "30d", "scratch": "off"}`',
    default: null,
    expected: 'a JSON object of source name → duration (like "30d") or "off"',
  },
  {
    env: 'TIDEMARK_GC_INTERVAL_MS',
    field: 'gcIntervalMs',
    description:
      'how often the restore service garbage-collects sources that have a retention (0: only on demand, `POST /v1/sources/:source/gc`)',
    default: '3600000',
    expected: 'a whole number of milliseconds from 0 to 604800000',
  },
  {
    env: 'TIDEMARK_S3_OBJECT_LOCK',
    field: 's3ObjectLock',
    description:
      'S3 Object Lock mode segments and snapshot objects are written with (the bucket needs Object Lock enabled). Unset: no lock',
    default: null,
    expected: 'governance or compliance',
  },
  {
    env: 'TIDEMARK_S3_OBJECT_LOCK_DAYS',
    field: 's3ObjectLockDays',
    description: 'days each locked object is retained; default: the longest retention, in whole days',
    default: null,
    expected: 'a whole number of days from 1 to 36500',
  },
]);

/** Parses `name:role:token,...`; returns a message (never quoting a token) when invalid. */
export function parseApiTokens(text: string): ApiToken[] | string {
  const tokens: ApiToken[] = [];
  const entries = text.split(',').map((e) => e.trim());
  for (const [i, entry] of entries.entries()) {
    const first = entry.indexOf(':');
    const second = entry.indexOf(':', first + 1);
    if (first < 0 || second < 0) return `entry ${i + 1} is not name:role:token`;
    const name = entry.slice(0, first);
    const role = entry.slice(first + 1, second);
    const token = entry.slice(second + 1);
    if (!TOKEN_NAME.test(name))
      return `entry ${i + 1} has an invalid name (letters, digits, "_", "." and "-")`;
    if (!ROLES.includes(role as ApiRole))
      return `token ${name} has role ${JSON.stringify(role)}, not one of ${ROLES.join('|')}`;
    if (token.length < MIN_TOKEN_LENGTH)
      return `token ${name} is shorter than ${MIN_TOKEN_LENGTH} characters`;
    if (tokens.some((t) => t.name === name)) return `token name ${name} appears twice`;
    if (tokens.some((t) => t.token === token)) return `token ${name} reuses the secret of another token`;
    tokens.push({ name, role: role as ApiRole, token });
  }
  return tokens;
}

/** The README's configuration table, generated from CONFIG_SETTINGS. */
export function renderConfigTable(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const rows = CONFIG_SETTINGS.map(
    (s) =>
      `| \`${s.env}\` | ${cell(s.description)} | ${s.default === null ? '(unset)' : `\`${s.default}\``} |`,
  );
  return ['| variable | meaning | default |', '|---|---|---|', ...rows].join('\n');
}
