import { type logCreator, logLevel } from 'kafkajs';
/** the two levels kafkajs lines are routed to */
export interface KafkaLogTarget {
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/**
 * Routes kafkajs' own log lines to our logger. kafkajs reports transient conditions (a
 * retried request, a rebalance) at ERROR, so they are warnings here (rebalances: debug); its
 * INFO is our debug.
 */
export function kafkaLogCreator(logger: KafkaLogTarget): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _t, logger: _l, ...rest } = log;
      const obj = { kafkajs: namespace, ...rest };
      // a rebalance shows up as one ERROR per request in flight: expected, not worth a warning
      const routine = /rebalanc/i.test(`${message} ${String(rest.error ?? '')}`);
      if ((level === logLevel.ERROR || level === logLevel.WARN) && !routine)
        logger.warn(obj, `kafkajs: ${message}`);
      else logger.debug(obj, `kafkajs: ${message}`);
    };
}
