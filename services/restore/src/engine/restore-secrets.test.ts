import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalKeyProvider } from '@tidemark/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RestoreSecrets } from './restore-secrets.js';

const URL = 'postgresql://me:s3cret@db.example:5432/restored';
const KEYS = LocalKeyProvider.fromText(`k1:${Buffer.alloc(32, 3).toString('base64')}`);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-secrets-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('RestoreSecrets', () => {
  it('seals the URL under the master key, bound to its restore id', async () => {
    const secrets = new RestoreSecrets(dir, KEYS);
    await secrets.save('r_one', URL);
    const file = path.join(dir, 'secrets', 'r_one.json');
    expect(await readFile(file, 'utf8')).not.toContain('s3cret');
    expect(await secrets.load('r_one')).toBe(URL);
    // the same file under another job's name does not open
    await copyFile(file, path.join(dir, 'secrets', 'r_two.json'));
    expect(await secrets.load('r_two')).toBeUndefined();
    await secrets.remove('r_one');
    expect(await secrets.load('r_one')).toBeUndefined();
  });

  it('keeps the URL as is without a master key, and refuses ids that are not restore ids', async () => {
    const secrets = new RestoreSecrets(dir, undefined);
    await secrets.save('r_plain', URL);
    expect(await secrets.load('r_plain')).toBe(URL);
    await expect(secrets.save('../etc/passwd', URL)).rejects.toThrow(/not a restore id/);
  });
});
