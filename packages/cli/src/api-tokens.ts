import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ApiToken {
  readonly name: string;
  readonly role: 'restore' | 'audit' | 'admin';
  readonly token: string;
}

/**
 * With TIDEMARK_API_TOKENS unset, one admin token is generated on first start and kept in
 * the data directory (mode 0600), so that restarts keep working with what was printed.
 */
export async function resolveApiTokens(
  configured: readonly ApiToken[] | undefined,
  dataDir: string,
): Promise<{ tokens: readonly ApiToken[]; generated: ApiToken | undefined }> {
  if (configured && configured.length > 0) return { tokens: configured, generated: undefined };
  const file = path.join(dataDir, 'admin-token');
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch {
    token = `tmk_${randomBytes(24).toString('base64url')}`;
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, `${token}\n`, { mode: 0o600 });
  }
  const generated: ApiToken = { name: 'admin', role: 'admin', token };
  return { tokens: [generated], generated };
}
