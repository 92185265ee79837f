import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { redactUrl } from './redact-url.js';

function capture(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, stream };
}

describe('createLogger', () => {
  it('writes JSON lines with name, level label and ISO time', () => {
    const { lines, stream } = capture();
    const log = createLogger({ name: 'journal', destination: stream });
    log.info({ segment: 'k' }, 'sealed');
    log.debug('hidden at info');
    const [line, ...rest] = lines();
    expect(rest).toEqual([]);
    expect(line).toMatchObject({ name: 'journal', level: 'info', segment: 'k', msg: 'sealed' });
    expect(String(line?.time)).toMatch(/^\d{4}-\d{2}-\d{2}T/);
  });

  it('honours the level and child bindings', () => {
    const { lines, stream } = capture();
    const log = createLogger({ name: 't', level: 'debug', destination: stream }).child({
      component: 'capture',
    });
    log.debug('shown');
    expect(lines()[0]).toMatchObject({ level: 'debug', component: 'capture', msg: 'shown' });
  });

  it('redacts tokens, passwords and authorization headers', () => {
    const { lines, stream } = capture();
    const log = createLogger({ name: 't', destination: stream });
    log.info(
      {
        token: 'tok-top',
        api: { token: 'tok-nested', name: 'ops' },
        db: { password: 'pw-nested' },
        authorization: 'Bearer abc',
        headers: { authorization: 'Bearer def' },
        req: { headers: { authorization: 'Bearer ghi' } },
      },
      'request',
    );
    const text = JSON.stringify(lines()[0]);
    for (const secret of ['tok-top', 'tok-nested', 'pw-nested', 'Bearer']) expect(text).not.toContain(secret);
    expect(lines()[0]).toMatchObject({ api: { name: 'ops', token: '[redacted]' } });
  });

  it('logs bigints (LSNs) without throwing', () => {
    const { lines, stream } = capture();
    createLogger({ name: 't', destination: stream }).info({ lsn: (1n << 64n) - 1n }, 'big');
    expect(lines()).toHaveLength(1);
  });
});

describe('redactUrl', () => {
  it.each([
    ['postgres://app:s3cr%40t@db:5432/shop', 'postgres://app:***@db:5432/shop'],
    ['postgresql://app@db/shop', 'postgresql://app@db/shop'],
    [
      'postgres://db/shop?user=a&password=hunter2&sslmode=require',
      'postgres://db/shop?user=a&password=***&sslmode=require',
    ],
    ['host=db user=app password=hunter2 dbname=shop', 'host=db user=app password=*** dbname=shop'],
    ["host=db password='hunter 2' dbname=shop", 'host=db password=*** dbname=shop'],
  ])('redacts %s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });

  it('masks credentials in URLs it cannot parse', () => {
    const out = redactUrl('postgres://app:hunter2@[bad/shop');
    expect(out).not.toContain('hunter2');
  });
});
