/**
 * The part of a pino logger capture uses, so any pino-compatible logger (the shared one, a
 * child logger, or a test's silent one) fits.
 */
export interface CaptureLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: CaptureLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
