import { Writable } from 'node:stream';
import { createLogger } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import type { CaptureLogger } from './capture-logger.js';

describe('CaptureLogger', () => {
  it('is satisfied by the shared pino logger', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger: CaptureLogger = createLogger({ name: 'capture', destination });
    logger.info({ slot: 's' }, 'streaming');
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'info',
      name: 'capture',
      slot: 's',
      msg: 'streaming',
    });
  });
});
