import { silentLogger } from '../capture-logger.js';
import { CaptureService, type CaptureServiceOptions } from '../capture-service.js';
import { MemorySink } from './memory-sink.js';
import { MemoryStore } from './memory-store.js';
import { sql, waitFor } from './source-fixture.js';

export interface Harness {
  readonly capture: CaptureService;
  readonly sink: MemorySink;
  readonly store: MemoryStore;
  readonly url: string;
  /** writes a transactional marker message and waits until the sink received it */
  sync(): Promise<void>;
}

let markers = 0;

export async function startCapture(
  url: string,
  overrides: Partial<CaptureServiceOptions> & { sink?: MemorySink; store?: MemoryStore } = {},
): Promise<Harness> {
  const sink = overrides.sink ?? new MemorySink();
  const store = overrides.store ?? new MemoryStore();
  const capture = new CaptureService({
    sourceUrl: url,
    sourceName: 'src',
    // slots are cluster-wide: one per test database
    slotName: `tm_${new URL(url).pathname.slice(1)}`,
    publicationName: 'tidemark_test',
    tablesWithoutKey: 'refuse',
    heartbeatIntervalMs: 0,
    logger: process.env.CAPTURE_TEST_LOG ? consoleLogger : silentLogger,
    reconnectDelayMs: { initial: 50, max: 500 },
    ...overrides,
    store,
    sink,
  });
  await capture.start();
  return {
    capture,
    sink,
    store,
    url,
    async sync() {
      const marker = `m${++markers}`;
      await sql(url, `select pg_logical_emit_message(true, 'test.sync', $1::text)`, [marker]);
      await waitFor(`marker ${marker}`, () => sink.hasMessage('test.sync', marker));
    },
  };
}

const consoleLogger = {
  debug: (o: object, m?: string) => console.debug(m, o),
  info: (o: object, m?: string) => console.info(m, o),
  warn: (o: object, m?: string) => console.warn(m, o),
  error: (o: object, m?: string) => console.error(m, o),
};
