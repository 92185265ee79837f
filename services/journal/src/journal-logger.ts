/** The slice of a pino logger the journal uses, so tests can pass pino itself or a silent one. */
export interface JournalLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export const silentLogger: JournalLogger = {
  info: () => {},
  warn: () => {},
  error: () => {},
  debug: () => {},
};
