import pino from 'pino';

export type Logger = pino.Logger;

export interface CreateLoggerOptions {
  name: string;
  /** pino level name; default 'info' */
  level?: string;
  /** where JSON lines go: a stream (tests capture with one) or a file descriptor; default stdout */
  destination?: pino.DestinationStream | number;
}

/**
 * Secrets never reach the log: these paths are replaced wherever they appear at the top
 * level or one level down (pino's redaction works on paths, not on content, so URLs go
 * through `redactUrl` before being logged).
 */
export const REDACTED_PATHS: readonly string[] = [
  'token',
  '*.token',
  'tokens',
  '*.tokens',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'masterKey',
  '*.masterKey',
  'dataKey',
  '*.dataKey',
];

/** JSON lines with ISO timestamps and level names, so operators can read and grep them. */
export function createLogger(options: CreateLoggerOptions): Logger {
  const config: pino.LoggerOptions = {
    name: options.name,
    level: options.level ?? 'info',
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  const destination =
    typeof options.destination === 'number' ? pino.destination(options.destination) : options.destination;
  return destination === undefined ? pino(config) : pino(config, destination);
}
