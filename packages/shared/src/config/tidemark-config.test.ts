import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTidemarkError, type TidemarkError } from '../core/errors.js';
import { CONFIG_SETTINGS, parseApiTokens, renderConfigTable } from './config-settings.js';
import { loadConfig } from './tidemark-config.js';

function configError(env: Record<string, string>): TidemarkError {
  try {
    loadConfig(env);
  } catch (err) {
    if (isTidemarkError(err, 'CONFIG_INVALID')) return err;
    throw err;
  }
  throw new Error('expected CONFIG_INVALID');
}

const TOKEN = 'abcdefghijklmnop';
const MASTER_KEY_BYTES = Buffer.alloc(32, 7).toString('base64');
const MASTER_KEY = `k1:${MASTER_KEY_BYTES}`;

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    expect(loadConfig({})).toEqual({
      sourceName: 'main',
      dataDir: path.resolve('./.tidemark'),
      host: '127.0.0.1',
      port: 8080,
      slotName: 'tidemark_main',
      publicationName: 'tidemark_main',
      tablesWithoutKey: 'refuse',
      segmentMaxBytes: 16 * 1024 * 1024,
      segmentMaxAgeMs: 1000,
      segmentCompression: 'zstd',
      heartbeatIntervalMs: 1000,
      maxConcurrentRestores: 2,
      compactionIntervalMs: 21_600_000,
      logLevel: 'info',
      kafkaTopicPrefix: 'tidemark.',
      kafkaGroupId: 'tidemark-journal',
      kafkaSessionTimeoutMs: 30000,
      kafkaHeartbeatIntervalMs: 3000,
      s3Region: 'us-east-1',
      s3ForcePathStyle: false,
      gcIntervalMs: 3600000,
    });
  });

  it('reads the distributed topology settings', () => {
    const config = loadConfig({
      TIDEMARK_KAFKA_BROKERS: 'kafka-1:9092, kafka-2:9092',
      TIDEMARK_S3_BUCKET: 'tidemark-journal',
      TIDEMARK_S3_PREFIX: 'prod/eu',
      TIDEMARK_S3_ENDPOINT: 'http://minio:9000',
      TIDEMARK_S3_FORCE_PATH_STYLE: 'true',
    });
    expect(config.kafkaBrokers).toEqual(['kafka-1:9092', 'kafka-2:9092']);
    expect(config.s3Bucket).toBe('tidemark-journal');
    expect(config.s3Prefix).toBe('prod/eu');
    expect(config.s3ForcePathStyle).toBe(true);
    expect(() => loadConfig({ TIDEMARK_KAFKA_BROKERS: 'no-port', TIDEMARK_S3_BUCKET: 'Bad_Bucket' })).toThrow(
      /TIDEMARK_KAFKA_BROKERS[\s\S]*TIDEMARK_S3_BUCKET/,
    );
  });

  it('reads every variable', () => {
    const config = loadConfig({
      TIDEMARK_SOURCE_URL: 'postgres://app:secret@db.internal:5432/shop',
      TIDEMARK_SOURCE_NAME: 'shop-eu',
      TIDEMARK_DATA_DIR: '/var/lib/tidemark',
      TIDEMARK_HOST: '0.0.0.0',
      TIDEMARK_PORT: '0',
      TIDEMARK_API_TOKENS: `ops:admin:${TOKEN}, ci:restore:${TOKEN}-2,aud:audit:${TOKEN}:with:colons`,
      TIDEMARK_TABLES_WITHOUT_KEY: 'replica-identity-full',
      TIDEMARK_SEGMENT_MAX_BYTES: '1048576',
      TIDEMARK_SEGMENT_MAX_AGE_MS: '250',
      TIDEMARK_HEARTBEAT_INTERVAL_MS: '0',
      TIDEMARK_MAX_CONCURRENT_RESTORES: '4',
      TIDEMARK_LOG_LEVEL: 'debug',
      UNRELATED: 'ignored',
    });
    expect(config).toMatchObject({
      sourceUrl: 'postgres://app:secret@db.internal:5432/shop',
      sourceName: 'shop-eu',
      dataDir: '/var/lib/tidemark',
      host: '0.0.0.0',
      port: 0,
      slotName: 'tidemark_shop_eu',
      publicationName: 'tidemark_shop_eu',
      tablesWithoutKey: 'replica-identity-full',
      segmentMaxBytes: 1_048_576,
      segmentMaxAgeMs: 250,
      heartbeatIntervalMs: 0,
      maxConcurrentRestores: 4,
      logLevel: 'debug',
    });
    expect(config.apiTokens).toEqual([
      { name: 'ops', role: 'admin', token: TOKEN },
      { name: 'ci', role: 'restore', token: `${TOKEN}-2` },
      { name: 'aud', role: 'audit', token: `${TOKEN}:with:colons` },
    ]);
  });

  it('takes explicit slot and publication names, and treats empty values as unset', () => {
    const config = loadConfig({
      TIDEMARK_SLOT_NAME: 'my_slot',
      TIDEMARK_PUBLICATION_NAME: 'my_pub',
      TIDEMARK_PORT: '',
    });
    expect(config).toMatchObject({ slotName: 'my_slot', publicationName: 'my_pub', port: 8080 });
    expect(config.sourceUrl).toBeUndefined();
    expect(config.apiTokens).toBeUndefined();
  });

  it('returns a deep-frozen object', () => {
    const config = loadConfig({ TIDEMARK_API_TOKENS: `a:admin:${TOKEN}` });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.apiTokens)).toBe(true);
    expect(Object.isFrozen(config.apiTokens?.[0])).toBe(true);
  });

  it('lists every bad variable with what it expects', () => {
    const err = configError({
      TIDEMARK_SOURCE_URL: 'mysql://x',
      TIDEMARK_SOURCE_NAME: 'Main!',
      TIDEMARK_PORT: '65536',
      TIDEMARK_SEGMENT_MAX_AGE_MS: '1e3',
      TIDEMARK_HEARTBEAT_INTERVAL_MS: '-1',
      TIDEMARK_MAX_CONCURRENT_RESTORES: '0',
      TIDEMARK_TABLES_WITHOUT_KEY: 'ignore',
      TIDEMARK_LOG_LEVEL: 'verbose',
      TIDEMARK_SLOT_NAME: 'Bad-Slot',
    });
    const vars = [
      'TIDEMARK_SOURCE_URL',
      'TIDEMARK_SOURCE_NAME',
      'TIDEMARK_PORT',
      'TIDEMARK_SLOT_NAME',
      'TIDEMARK_TABLES_WITHOUT_KEY',
      'TIDEMARK_SEGMENT_MAX_AGE_MS',
      'TIDEMARK_HEARTBEAT_INTERVAL_MS',
      'TIDEMARK_MAX_CONCURRENT_RESTORES',
      'TIDEMARK_LOG_LEVEL',
    ];
    expect(err.details.variables).toEqual(vars);
    expect(err.message).toMatch(/^invalid configuration \(9 settings\)/);
    expect(err.message).toContain('TIDEMARK_PORT: expected a TCP port 0-65535 (got "65536")');
    expect(err.message).toContain(
      'TIDEMARK_TABLES_WITHOUT_KEY: expected one of refuse, replica-identity-full, exclude',
    );
  });

  it('never quotes secrets in errors', () => {
    const err = configError({
      TIDEMARK_SOURCE_URL: 'not a url with password hunter2',
      TIDEMARK_API_TOKENS: 'ops:admin:short-secret',
    });
    expect(err.message).not.toContain('hunter2');
    expect(err.message).not.toContain('short-secret');
    expect(err.message).toContain('token ops is shorter than 16 characters');
  });

  it('reads segment compression and master keys, never quoting a key', () => {
    expect(loadConfig({ TIDEMARK_SEGMENT_COMPRESSION: 'none' }).segmentCompression).toBe('none');
    expect(loadConfig({ TIDEMARK_MASTER_KEY_FILE: '/run/secrets/tidemark' }).masterKeyFile).toBe(
      '/run/secrets/tidemark',
    );
    expect(loadConfig({ TIDEMARK_MASTER_KEY: MASTER_KEY }).masterKey).toBe(MASTER_KEY);
  });

  it('reads the compaction settings and never echoes the compaction URL', () => {
    const config = loadConfig({
      TIDEMARK_COMPACTION_DATABASE_URL: 'postgres://tm:pw@scratch.internal:5432/postgres',
      TIDEMARK_COMPACTION_INTERVAL_MS: '0',
    });
    expect(config.compactionDatabaseUrl).toBe('postgres://tm:pw@scratch.internal:5432/postgres');
    expect(config.compactionIntervalMs).toBe(0);
    expect(() => loadConfig({ TIDEMARK_COMPACTION_DATABASE_URL: 'mysql://tm:secretpw@x/db' })).toThrow(
      /TIDEMARK_COMPACTION_DATABASE_URL: expected a postgres/,
    );
    try {
      loadConfig({ TIDEMARK_COMPACTION_DATABASE_URL: 'mysql://tm:secretpw@x/db' });
    } catch (err) {
      expect(String(err)).not.toContain('secretpw');
    }
    const err = configError({
      TIDEMARK_SEGMENT_COMPRESSION: 'gzip',
      TIDEMARK_MASTER_KEY: `k1:${MASTER_KEY_BYTES.slice(0, 40)}`,
    });
    expect(err.details.variables).toEqual(['TIDEMARK_SEGMENT_COMPRESSION', 'TIDEMARK_MASTER_KEY']);
    expect(err.message).toContain('TIDEMARK_SEGMENT_COMPRESSION: expected zstd or none (got "gzip")');
    expect(err.message).toContain('entry 1 is not the base64 of 32 bytes');
    expect(err.message).not.toContain(MASTER_KEY_BYTES.slice(0, 40));
    const both = configError({ TIDEMARK_MASTER_KEY: MASTER_KEY, TIDEMARK_MASTER_KEY_FILE: '/k' });
    expect(both.message).toContain('not both');
    expect(both.message).not.toContain(MASTER_KEY_BYTES);
  });

  it('rejects a derived slot name that is too long', () => {
    const err = configError({ TIDEMARK_SOURCE_NAME: 'x'.repeat(60) });
    expect(err.details.variables).toEqual(['TIDEMARK_SLOT_NAME', 'TIDEMARK_PUBLICATION_NAME']);
    expect(err.message).toContain('set TIDEMARK_SLOT_NAME');
    expect(() =>
      loadConfig({
        TIDEMARK_SOURCE_NAME: 'x'.repeat(60),
        TIDEMARK_SLOT_NAME: 's',
        TIDEMARK_PUBLICATION_NAME: 'p',
      }),
    ).not.toThrow();
  });
});

describe('API tokens', () => {
  it.each([
    ['ops:admin', /not name:role:token/],
    ['ops:root:abcdefghijklmnop', /role "root"/],
    ['bad name:admin:abcdefghijklmnop', /invalid name/],
    [`a:admin:${TOKEN},a:audit:${TOKEN}x`, /appears twice/],
    [`a:admin:${TOKEN},b:audit:${TOKEN}`, /reuses the secret/],
    [`a:admin:${TOKEN},`, /entry 2/],
  ])('rejects %j', (text, message) => {
    const result = parseApiTokens(text);
    expect(typeof result).toBe('string');
    expect(result).toMatch(message);
  });
});

describe('CONFIG_SETTINGS', () => {
  it('documents every field of the config, with unique variables', () => {
    const fields = CONFIG_SETTINGS.map((s) => s.field).sort((a, b) => a.localeCompare(b));
    const env = {
      TIDEMARK_SOURCE_URL: 'postgres://h/db',
      TIDEMARK_API_TOKENS: `a:admin:${TOKEN}`,
      TIDEMARK_KAFKA_BROKERS: 'k:9092',
      TIDEMARK_S3_BUCKET: 'bucket',
      TIDEMARK_S3_PREFIX: 'p',
      TIDEMARK_S3_ENDPOINT: 'http://s3:9000',
      TIDEMARK_RETENTION: '7d',
      TIDEMARK_RETENTION_BY_SOURCE: '{"main":"30d"}',
      TIDEMARK_S3_OBJECT_LOCK: 'governance',
      TIDEMARK_S3_OBJECT_LOCK_DAYS: '7',
      TIDEMARK_COMPACTION_DATABASE_URL: 'postgres://h/postgres',
      TIDEMARK_REPORT_SIGNING_KEY_FILE: '/etc/tidemark/report-signing-key.pem',
    };
    // the two ways of giving master keys exclude each other
    const config = {
      ...loadConfig({
        ...env,
        TIDEMARK_MASTER_KEY_FILE: '/etc/tidemark/master.keys',
        TIDEMARK_REPLICAS: '{"dr": {"dir": "/backup"}}',
      }),
      ...loadConfig({
        ...env,
        TIDEMARK_MASTER_KEY: MASTER_KEY,
        TIDEMARK_REPLICAS_FILE: '/etc/tidemark/replicas.json',
      }),
    };
    expect(fields).toEqual(Object.keys(config).sort((a, b) => a.localeCompare(b)));
    expect(new Set(CONFIG_SETTINGS.map((s) => s.env)).size).toBe(CONFIG_SETTINGS.length);
    for (const s of CONFIG_SETTINGS) expect(s.env).toMatch(/^TIDEMARK_[A-Z0-9_]+$/);
  });

  it('renders the README table', () => {
    const table = renderConfigTable();
    expect(table.split('\n')).toHaveLength(CONFIG_SETTINGS.length + 2);
    expect(table).toContain('| `TIDEMARK_PORT` | API port (0: any free port) | `8080` |');
    expect(table).toContain('restore\\|audit\\|admin');
  });
});
