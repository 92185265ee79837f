import { isTidemarkError } from '@tidemark/shared';
import type { JournalLogger } from './journal-logger.js';

/**
 * Retries a store operation with capped exponential backoff and full jitter. Errors that
 * are not retriable (a TidemarkError saying so) fail at once.
 */
export async function withRetries<T>(
  op: () => Promise<T>,
  opts: { what: string; logger: JournalLogger; attempts?: number; baseMs?: number; capMs?: number },
): Promise<T> {
  const attempts = opts.attempts ?? 8;
  const base = opts.baseMs ?? 50;
  const cap = opts.capMs ?? 5_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      const retriable = !isTidemarkError(err) || err.retriable;
      if (!retriable || attempt >= attempts) throw err;
      const delay = Math.random() * Math.min(cap, base * 2 ** attempt);
      opts.logger.warn({ err, attempt, delayMs: Math.round(delay) }, `retrying: ${opts.what}`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
