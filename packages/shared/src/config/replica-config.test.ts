import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTidemarkError } from '../core/errors.js';
import { parseReplicaConfigs, resolveReplicaConfigs } from './replica-config.js';
import { loadConfig } from './tidemark-config.js';

const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (isTidemarkError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error('expected an error');
};

describe('replica configuration (TIDEMARK_REPLICAS)', () => {
  it('parses S3 and directory replicas', () => {
    const parsed = parseReplicaConfigs(
      JSON.stringify({
        'eu-west': {
          s3: {
            bucket: 'tm-eu',
            prefix: 'prod/tidemark',
            endpoint: 'http://minio:9000',
            region: 'eu-west-1',
            forcePathStyle: true,
            credentialsEnv: { accessKeyId: 'EU_KEY_ID', secretAccessKey: 'EU_SECRET' },
          },
        },
        'dr-disk': { dir: 'backup/tidemark' },
      }),
    );
    expect(parsed).toEqual({
      'eu-west': {
        s3: {
          bucket: 'tm-eu',
          prefix: 'prod/tidemark',
          endpoint: 'http://minio:9000',
          region: 'eu-west-1',
          forcePathStyle: true,
          credentialsEnv: { accessKeyId: 'EU_KEY_ID', secretAccessKey: 'EU_SECRET' },
        },
      },
      'dr-disk': { dir: path.resolve('backup/tidemark') },
    });
  });

  it('names every problem by region and field', () => {
    expect(parseReplicaConfigs('{"eu-west": ')).toMatch(/^not valid JSON/);
    expect(parseReplicaConfigs('[1]')).toMatch(/expected a JSON object of region name/);
    const problems = parseReplicaConfigs(
      JSON.stringify({
        EU: { dir: '/x' },
        'us-east': { s3: { bucket: 'B!', forcePathStyle: 'yes', acl: 'private' } },
        both: { dir: '/x', s3: { bucket: 'abc' } },
        'no-dir': { dir: '' },
      }),
    ) as string;
    expect(problems).toContain('region name "EU": expected 1-32 of a-z, 0-9 and "-"');
    expect(problems).toContain('region us-east: s3.bucket: expected an S3 bucket name');
    expect(problems).toContain('s3.forcePathStyle: expected true or false');
    expect(problems).toContain('unknown key "acl"');
    expect(problems).toContain(
      'region both: expected exactly one of {"s3": {"bucket": ...}} or {"dir": "/path"}',
    );
    expect(problems).toContain('region no-dir: dir: expected a directory path');
  });

  it('is validated by loadConfig, once, with the variable named', () => {
    const config = loadConfig({ TIDEMARK_REPLICAS: '{"dr": {"dir": "/backup"}}' });
    expect(config.replicas).toEqual({ dr: { dir: '/backup' } });
    expect(message(() => loadConfig({ TIDEMARK_REPLICAS: '{"dr": {"dir": 3}}' }))).toMatch(
      /^CONFIG_INVALID: .*TIDEMARK_REPLICAS: expected a JSON object of region name .*region dr: dir: /s,
    );
    expect(
      message(() =>
        loadConfig({
          TIDEMARK_REPLICAS: '{"dr": {"dir": "/b"}}',
          TIDEMARK_REPLICAS_FILE: '/etc/replicas.json',
        }),
      ),
    ).toContain('set TIDEMARK_REPLICAS or TIDEMARK_REPLICAS_FILE, not both');
  });

  it('reads TIDEMARK_REPLICAS_FILE and checks the credentials variables a replica names', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tidemark-replicas-'));
    try {
      const file = path.join(dir, 'replicas.json');
      await writeFile(
        file,
        JSON.stringify({
          'eu-west': {
            s3: { bucket: 'tm-eu', credentialsEnv: { accessKeyId: 'EU_ID', secretAccessKey: 'EU_SECRET' } },
          },
        }),
      );
      const config = loadConfig({ TIDEMARK_REPLICAS_FILE: file });
      expect(resolveReplicaConfigs(config, { EU_ID: 'AKIA', EU_SECRET: 's3cr3t-value' })).toEqual({
        'eu-west': {
          s3: { bucket: 'tm-eu', credentialsEnv: { accessKeyId: 'EU_ID', secretAccessKey: 'EU_SECRET' } },
        },
      });
      const missing = message(() => resolveReplicaConfigs(config, { EU_ID: 'AKIA' }));
      expect(missing).toContain('region eu-west: EU_SECRET is not set');
      expect(missing).not.toContain('AKIA');
      await writeFile(file, '{"eu-west": {"s3": {}}}');
      expect(message(() => resolveReplicaConfigs(config, {}))).toContain(
        `TIDEMARK_REPLICAS_FILE (${file}): region eu-west: s3.bucket:`,
      );
      expect(message(() => resolveReplicaConfigs({ replicasFile: path.join(dir, 'nope.json') }))).toContain(
        'TIDEMARK_REPLICAS_FILE: cannot read',
      );
      expect(resolveReplicaConfigs(loadConfig({}))).toEqual({});
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
