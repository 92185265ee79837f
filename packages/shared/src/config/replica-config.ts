import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { TidemarkError } from '../core/errors.js';

/**
 * Replica stores ("regions"): named copies of the journal in other buckets, regions or
 * disks, configured as JSON in TIDEMARK_REPLICAS (or a file named by
 * TIDEMARK_REPLICAS_FILE):
 *
 * ```json
 * { "eu-west": { "s3": { "bucket": "tm-eu", "prefix": "prod", "region": "eu-west-1",
 *                        "credentialsEnv": { "accessKeyId": "EU_KEY_ID", "secretAccessKey": "EU_SECRET" } } },
 *   "dr-disk": { "dir": "/backup/tidemark" } }
 * ```
 *
 * Credentials never appear in this JSON: S3 replicas use the AWS SDK's standard chain, or
 * the environment variables named in `credentialsEnv` (so each region can have its own).
 */
export const REGION_NAME_PATTERN = /^[a-z0-9-]{1,32}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const envName = z.string().regex(ENV_NAME, { error: 'expected an environment variable name' });

const s3ReplicaSchema = z.strictObject({
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: 'expected an S3 bucket name' }),
  prefix: z
    .string()
    .regex(/^([A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*)?$/, {
      error: 'expected a key prefix like tidemark/prod (no leading or trailing /)',
    })
    .optional(),
  endpoint: z.url({ error: 'expected a URL like http://minio:9000' }).optional(),
  region: z
    .string()
    .regex(/^[a-z0-9-]{1,40}$/, { error: 'expected an S3 region name like eu-west-1' })
    .optional(),
  forcePathStyle: z.boolean({ error: 'expected true or false' }).optional(),
  credentialsEnv: z
    .strictObject({ accessKeyId: envName, secretAccessKey: envName, sessionToken: envName.optional() })
    .optional(),
});

const replicaSchema = z.union([
  z.strictObject({ s3: s3ReplicaSchema }),
  z.strictObject({ dir: z.string().min(1, { error: 'expected a directory path' }) }),
]);

const replicasSchema = z.record(z.string(), z.unknown());

export type S3ReplicaConfig = z.infer<typeof s3ReplicaSchema>;
export type ReplicaConfig = { readonly s3: S3ReplicaConfig } | { readonly dir: string };
/** region name → where its copy lives */
export type ReplicaConfigs = Readonly<Record<string, ReplicaConfig>>;

/**
 * Parses the JSON of TIDEMARK_REPLICAS; answers a message naming every problem (region and
 * field) when it is not valid. Relative `dir` paths are resolved against the working directory.
 */
export function parseReplicaConfigs(text: string): ReplicaConfigs | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `not valid JSON (${(err as Error).message})`;
  }
  const top = replicasSchema.safeParse(value);
  if (!top.success || Array.isArray(value)) {
    return 'expected a JSON object of region name → {"s3": {...}} or {"dir": "..."}';
  }
  const out: Record<string, ReplicaConfig> = {};
  const problems: string[] = [];
  for (const [name, entry] of Object.entries(top.data)) {
    if (!REGION_NAME_PATTERN.test(name)) {
      problems.push(`region name ${JSON.stringify(name)}: expected 1-32 of a-z, 0-9 and "-"`);
      continue;
    }
    const parsed = replicaSchema.safeParse(entry);
    if (!parsed.success) {
      problems.push(`region ${name}: ${describeReplicaIssues(entry, parsed.error.issues)}`);
      continue;
    }
    out[name] = 'dir' in parsed.data ? { dir: path.resolve(parsed.data.dir) } : parsed.data;
  }
  if (problems.length > 0) return problems.join('; ');
  return out;
}

function describeReplicaIssues(entry: unknown, issues: readonly z.core.$ZodIssue[]): string {
  const union = issues.find((i) => i.code === 'invalid_union');
  if (union && union.code === 'invalid_union' && entry !== null && typeof entry === 'object') {
    const keys = Object.keys(entry);
    const branch =
      keys.length === 1 && keys[0] === 's3' ? 0 : keys.length === 1 && keys[0] === 'dir' ? 1 : -1;
    const sub = branch >= 0 ? union.errors[branch] : undefined;
    if (sub) return sub.map(formatIssue).join(', ');
  }
  if (union) return 'expected exactly one of {"s3": {"bucket": ...}} or {"dir": "/path"}';
  return issues.map(formatIssue).join(', ');
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const at = issue.path.map(String).join('.');
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown key ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`
      : issue.message;
  return at ? `${at}: ${message}` : message;
}

/**
 * The replicas of a loaded configuration: TIDEMARK_REPLICAS, or the file named by
 * TIDEMARK_REPLICAS_FILE (read and validated here, once, at start), or none. Also checks
 * that every credentials environment variable a replica names is set. CONFIG_INVALID with
 * what to fix; never quotes a credential.
 */
export function resolveReplicaConfigs(
  config: { readonly replicas?: ReplicaConfigs; readonly replicasFile?: string },
  env: NodeJS.ProcessEnv = process.env,
): ReplicaConfigs {
  let replicas = config.replicas ?? {};
  if (config.replicasFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(config.replicasFile, 'utf8');
    } catch (err) {
      throw new TidemarkError(
        'CONFIG_INVALID',
        `TIDEMARK_REPLICAS_FILE: cannot read ${config.replicasFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        { cause: err },
      );
    }
    const parsed = parseReplicaConfigs(text);
    if (typeof parsed === 'string')
      throw new TidemarkError('CONFIG_INVALID', `TIDEMARK_REPLICAS_FILE (${config.replicasFile}): ${parsed}`);
    replicas = parsed;
  }
  const missing: string[] = [];
  for (const [name, replica] of Object.entries(replicas)) {
    if (!('s3' in replica) || !replica.s3.credentialsEnv) continue;
    const { accessKeyId, secretAccessKey, sessionToken } = replica.s3.credentialsEnv;
    for (const variable of [accessKeyId, secretAccessKey, sessionToken]) {
      if (variable !== undefined && !env[variable]) missing.push(`region ${name}: ${variable} is not set`);
    }
  }
  if (missing.length > 0)
    throw new TidemarkError(
      'CONFIG_INVALID',
      `replica credentials missing: ${missing.join('; ')} (set them, or drop credentialsEnv to use the AWS SDK's standard chain)`,
    );
  return replicas;
}
