import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** Where the CLI's client commands find the API, and with which token. */
export interface ClientSettings {
  readonly url: string;
  readonly token: string;
}

/**
 * `--api`/TIDEMARK_API_URL (default http://127.0.0.1:8080) and `--token`/TIDEMARK_API_TOKEN;
 * without a token, the admin token `tidemark up` generated in the data directory, so the
 * commands work right after the quick start.
 */
export async function resolveClientSettings(flags: {
  api?: string;
  token?: string;
}): Promise<ClientSettings> {
  const url = (flags.api ?? process.env.TIDEMARK_API_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  let token = flags.token ?? process.env.TIDEMARK_API_TOKEN;
  if (!token) {
    const file = path.join(path.resolve(process.env.TIDEMARK_DATA_DIR ?? './.tidemark'), 'admin-token');
    token = await readFile(file, 'utf8').then(
      (t) => t.trim(),
      () => undefined,
    );
  }
  if (!token) {
    throw new ClientError(
      'no API token: pass --token, set TIDEMARK_API_TOKEN, or run from the directory where `tidemark up` keeps .tidemark/admin-token',
    );
  }
  return { url, token };
}

export class ClientError extends Error {}

export interface ApiErrorBody {
  error?: { code?: string; message?: string };
}

/** One JSON request; a non-2xx answer becomes a ClientError carrying the API's message and code. */
export async function apiRequest<T>(
  settings: ClientSettings,
  method: string,
  route: string,
  body?: unknown,
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${settings.url}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${settings.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new ClientError(
      `cannot reach the Tidemark API at ${settings.url} (${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}); is it running? set --api or TIDEMARK_API_URL`,
    );
  }
  const text = await res.text();
  const parsed = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const e = (parsed as ApiErrorBody | undefined)?.error;
    throw new ClientError(`${e?.message ?? `HTTP ${res.status}`}${e?.code ? ` [${e.code}]` : ''}`);
  }
  return parsed as T;
}
