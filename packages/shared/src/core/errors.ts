import { ERROR_CODES, type ErrorCode } from './error-codes.js';

export interface TidemarkErrorOptions {
  cause?: unknown;
  /** overrides the code's default */
  retriable?: boolean;
  /** structured facts for logs and API bodies (segment key, offset, LSN ...) */
  details?: Record<string, unknown>;
}

/**
 * The one error type Tidemark throws on purpose. `message` is written for an operator:
 * what failed and how to fix it.
 */
export class TidemarkError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: TidemarkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TidemarkError';
    this.code = code;
    this.retriable = options.retriable ?? ERROR_CODES[code].retriable;
    this.details = options.details ?? {};
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].status;
  }

  toJSON(): { code: ErrorCode; message: string; retriable: boolean; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, retriable: this.retriable, details: this.details };
  }
}

export function isTidemarkError(err: unknown, code?: ErrorCode): err is TidemarkError {
  return err instanceof TidemarkError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a TidemarkError, keeping the original as the cause. */
export function toTidemarkError(err: unknown, fallback: ErrorCode = 'INTERNAL'): TidemarkError {
  if (err instanceof TidemarkError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TidemarkError(fallback, message, { cause: err });
}

export function httpStatusOf(err: unknown): number {
  return err instanceof TidemarkError ? err.httpStatus : 500;
}
