/**
 * Our own retry loop around single S3 requests (the SDK's is switched off with
 * `maxAttempts: 1`), so what is retried, how long we wait and what gets logged is ours and
 * tested: capped exponential backoff with full jitter (a random wait between 0 and
 * min(maxDelay, base * 2^(attempt-1))), which spreads out many clients hitting a throttled
 * prefix at once.
 */
export interface RetryPolicy {
  /** total attempts, including the first; at least 1 */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 10_000 };

/** Where retries are reported; a pino logger fits. */
export interface StoreLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** The wait before attempt `attempt + 1`, after `attempt` failed. */
export function backoffDelayMs(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(random() * ceiling);
}

export interface RetryContext {
  readonly policy: RetryPolicy;
  readonly logger: StoreLogger | undefined;
  /** what is being done, for the log: `{ op: 'put', key, store }` */
  readonly fields: Record<string, unknown>;
  /** whether this failure may go away on its own */
  readonly isTransient: (err: unknown) => boolean;
  /** a short description of the failure for the log line */
  readonly describe: (err: unknown) => Record<string, unknown>;
}

export class RetriesExhausted extends Error {
  constructor(
    readonly attempts: number,
    readonly last: unknown,
  ) {
    super(last instanceof Error ? last.message : String(last), { cause: last });
    this.name = 'RetriesExhausted';
  }
}

/**
 * Runs `attempt(n)` until it succeeds, fails with a non-transient error (rethrown as is), or
 * has failed transiently `maxAttempts` times (thrown as RetriesExhausted wrapping the last one).
 */
export async function withRetries<T>(ctx: RetryContext, attempt: (n: number) => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!ctx.isTransient(err)) throw err;
      if (n >= ctx.policy.maxAttempts) throw new RetriesExhausted(n, err);
      const delayMs = backoffDelayMs(ctx.policy, n);
      ctx.logger?.warn(
        { ...ctx.fields, attempt: n, maxAttempts: ctx.policy.maxAttempts, delayMs, ...ctx.describe(err) },
        'object store request failed, retrying',
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
