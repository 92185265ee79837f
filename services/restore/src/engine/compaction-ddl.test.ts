import { mkdtemp, readFile, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type Change,
  initChecksums,
  isTidemarkError,
  LocalObjectStore,
  MESSAGE_PREFIX,
  type SnapshotManifest,
  type SnapshotSequence,
  type TransactionRecord,
  textFormatStartupOptions,
} from '@tidemark/shared';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import { executeRestore, planFromCatalog } from './restore-executor.js';
import { compactSnapshot } from './snapshot-compactor.js';
import { parseTargetUrl } from './target-database.js';
import {
  type FixtureTable,
  relationOf,
  TxBuilder,
  type WrittenSegment,
  writeSegments,
  writeSnapshot,
} from './testing/journal-fixture.js';

/**
 * A compaction after schema changes, against a real PostgreSQL: a base snapshot, then a
 * journal that adds, renames, retypes and drops columns, creates and fills a table, creates
 * an index, drops an index of a table no message describes, and drops a table. The
 * compacted snapshot must describe the tables as of its LSN (oids from the messages, new
 * columns, indexes, sequences following their owners) with data copied in the new column
 * lists, and a restore from it past more DDL must be exact.
 */
const SOURCE = 'ddl';
const BASE_LSN = 0x200_0000n;
const ITEMS = 16400;
const DOOMED = 16401;
const KEEP = 16402;
const TAGS = 16500;
const ITEMS_NAME = {
  name: 'items_name',
  definition: 'CREATE INDEX items_name ON public.items USING btree (name)',
};
const KEEP_V = { name: 'keep_v', definition: 'CREATE INDEX keep_v ON public.keep USING btree (v)' };

const TABLES: FixtureTable[] = [
  {
    schema: 'public',
    table: 'items',
    oid: ITEMS,
    columns: [
      { name: 'id', type: 'integer', typeOid: 23, notNull: true, attnum: 1 },
      { name: 'name', type: 'text', typeOid: 25, attnum: 2 },
      { name: 'qty', type: 'integer', typeOid: 23, default: '0', attnum: 3 },
    ],
    primaryKey: ['id'],
    indexes: [ITEMS_NAME],
    data: [
      ['1', 'a', '1'],
      ['2', 'b', '2'],
      ['3', 'c', '3'],
    ],
  },
  {
    schema: 'public',
    table: 'doomed',
    oid: DOOMED,
    columns: [
      { name: 'id', type: 'integer', typeOid: 23, notNull: true, attnum: 1 },
      { name: 'v', type: 'text', typeOid: 25, attnum: 2 },
    ],
    primaryKey: ['id'],
    data: [['1', 'x']],
  },
  {
    schema: 'public',
    table: 'keep',
    oid: KEEP,
    columns: [
      { name: 'id', type: 'integer', typeOid: 23, notNull: true, attnum: 1 },
      { name: 'v', type: 'text', typeOid: 25, default: "'x'::text", attnum: 2 },
    ],
    primaryKey: ['id'],
    indexes: [KEEP_V],
    data: [['1', 'one']],
  },
];

const sequence = (
  name: string,
  lastValue: string,
  ownedBy: SnapshotSequence['ownedBy'],
): SnapshotSequence => ({
  schema: 'public',
  name,
  dataType: 'bigint',
  increment: '1',
  minValue: '1',
  maxValue: '9223372036854775807',
  start: '1',
  cache: '1',
  cycle: false,
  lastValue,
  ownedBy,
  identity: null,
});
const SEQUENCES = [
  sequence('items_qty_seq', '3', { schema: 'public', table: 'items', column: 'qty' }),
  sequence('doomed_id_seq', '1', { schema: 'public', table: 'doomed', column: 'id' }),
  sequence('free_seq', '42', null),
];

type Column = {
  attnum: number;
  name: string;
  type: string;
  typeOid?: number;
  notNull?: boolean;
  default?: string;
};
const col = (attnum: number, name: string, type: string, extra: Partial<Column> = {}) => ({
  attnum,
  name,
  type,
  notNull: false,
  default: null,
  ...extra,
});
const table = (oid: number, name: string, columns: object[], indexes: object[] = []) => ({
  oid,
  schema: 'public',
  name,
  kind: 'table',
  replicaIdentity: 'default',
  partitionKey: null,
  partitionOf: null,
  columns,
  primaryKey: ['id'],
  indexes,
});
const ddl = (body: Record<string, unknown>): Change => ({
  op: 'message',
  prefix: MESSAGE_PREFIX.ddl,
  content: new TextEncoder().encode(JSON.stringify({ version: 1, statement: '-- test', ...body })),
  transactional: true,
});
const altered = (tag: string, ...tables: object[]) => ddl({ event: 'ddl_command_end', tag, tables });
const ID = col(1, 'id', 'integer', { typeOid: 23, notNull: true });
const NAME = col(2, 'name', 'text'); // no typeOid: the snapshot's is kept
const QTY = col(3, 'qty', 'integer', { typeOid: 23, default: '0' });
const PRICE = col(4, 'price', 'numeric(10,2)', { typeOid: 1700, default: '1.50' });
const QUANTITY = col(3, 'quantity', 'bigint', { default: '0' }); // no typeOid: the scratch database's
const TAG_COLUMNS = [
  ID,
  col(2, 'item', 'integer', { typeOid: 23, notNull: true }),
  col(3, 'tag', 'text', { typeOid: 25 }),
];
const TAGS_TAG = (on: string) => ({
  name: 'tags_tag',
  definition: `CREATE INDEX tags_tag ON public.${on} USING btree (tag)`,
});

const b = new TxBuilder(SOURCE, BASE_LSN, 1_714_557_600_000_000n);
const items = (...cols: string[]) => relationOf(ITEMS, 'public', 'items', [['id', true], ...cols]);
const ins = (values: string[]): Change => ({ op: 'insert', rel: 0, new: { values } });
const FIRST: TransactionRecord[][] = [
  [
    b.tx([items('name', 'qty')], [ins(['4', 'd', '4'])]),
    b.tx([], [altered('ALTER TABLE', table(ITEMS, 'items', [ID, NAME, QTY, PRICE], [ITEMS_NAME]))]),
    b.tx([items('name', 'qty', 'price')], [ins(['5', 'e', '5', '9.99'])]),
    b.tx([], [altered('ALTER TABLE', table(ITEMS, 'items', [ID, NAME, QUANTITY, PRICE], [ITEMS_NAME]))]),
    b.tx(
      [items('name', 'quantity', 'price')],
      [{ op: 'update', rel: 0, new: { values: ['1', 'a', '9000000000', '1.50'] } }],
    ),
  ],
  [
    b.tx([], [altered('ALTER TABLE', table(ITEMS, 'items', [ID, NAME, QUANTITY], [ITEMS_NAME]))]),
    b.tx([], [altered('CREATE TABLE', table(TAGS, 'tags', TAG_COLUMNS))]),
    b.tx(
      [relationOf(TAGS, 'public', 'tags', [['id', true], 'item', 'tag'])],
      [ins(['1', '1', 't1']), ins(['2', '2', 't2'])],
    ),
    b.tx([], [altered('CREATE INDEX', table(TAGS, 'tags', TAG_COLUMNS, [TAGS_TAG('tags')]))]),
    b.tx(
      [],
      [
        ddl({
          event: 'sql_drop',
          tag: 'DROP TABLE',
          dropped: [{ type: 'table', oid: DOOMED, schema: 'public', name: 'doomed' }],
        }),
        ddl({
          event: 'sql_drop',
          tag: 'DROP INDEX',
          dropped: [{ type: 'index', oid: 99999, schema: 'public', name: 'keep_v' }],
        }),
      ],
    ),
  ],
];
const AFTER: TransactionRecord[] = [
  b.tx([], [altered('ALTER TABLE', table(TAGS, 'labels', TAG_COLUMNS, [TAGS_TAG('labels')]))]),
  b.tx([relationOf(TAGS, 'public', 'labels', [['id', true], 'item', 'tag'])], [ins(['3', '3', 't3'])]),
  b.tx([items('name', 'quantity')], [{ op: 'update', rel: 0, new: { values: ['2', 'b', '20'] } }]),
];

let cluster: PostgresCluster;
let dir: string;
let store: LocalObjectStore;
let segments: WrittenSegment[];
let manifest: SnapshotManifest;
let manifestKey: string;
let baseManifest: SnapshotManifest;

async function query(db: string, sql: string): Promise<unknown[][]> {
  const client = new pg.Client({ connectionString: cluster.url(db), options: textFormatStartupOptions() });
  await client.connect();
  try {
    return (await client.query<unknown[]>({ text: sql, rowMode: 'array' })).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  await initChecksums();
  cluster = await startPostgres({ flavor: 'debian15' });
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-compaction-ddl-'));
  store = new LocalObjectStore(dir);
  const base = await writeSnapshot(store, {
    source: SOURCE,
    lsn: BASE_LSN,
    snapshotTime: 1_714_557_600_000_000n,
    tables: TABLES,
    sequences: SEQUENCES,
  });
  baseManifest = base.manifest;
  segments = await writeSegments(store, {
    source: SOURCE,
    snapshotLsn: BASE_LSN,
    prevSha256: base.sha256,
    groups: FIRST,
  });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('compaction after schema changes', () => {
  it('describes the tables as the schema changes left them, with data in the new column lists', async () => {
    const result = await compactSnapshot({
      id: 'c_ddl',
      store,
      catalog: new JournalCatalog(store),
      source: SOURCE,
      serverUrl: cluster.url('postgres'),
      sealing: { compress: false },
      logger: silentLogger,
    });
    expect(result).toMatchObject({ created: true, transactions: 10, tables: 3 });
    manifestKey = result.manifestKey;
    manifest = JSON.parse(await readFile(path.join(dir, manifestKey), 'utf8'));
    expect(manifest.tables.map((t) => [t.table, t.oid])).toEqual([
      ['items', ITEMS],
      ['keep', KEEP],
      ['tags', TAGS],
    ]);
    const [itemsDef, keepDef, tagsDef] = manifest.tables;
    expect(itemsDef).toMatchObject({
      primaryKey: ['id'],
      indexes: [ITEMS_NAME],
      columns: [
        { name: 'id', type: 'integer', typeOid: 23, notNull: true, default: null, attnum: 1 },
        { name: 'name', type: 'text', typeOid: 25, notNull: false, default: null, attnum: 2 },
        { name: 'quantity', type: 'bigint', typeOid: 20, notNull: false, default: '0', attnum: 3 },
      ],
      rows: 5,
    });
    // a table no message described keeps its snapshot definition, without the dropped index
    const {
      dataKey: _d,
      sha256: _s,
      xxh64: _x,
      bytes: _b,
      indexes: _i,
      ...keepBase
    } = baseManifest.tables[2]!;
    expect(keepDef).toMatchObject({ ...keepBase, indexes: [] });
    expect(tagsDef).toMatchObject({
      kind: 'table',
      primaryKey: ['id'],
      indexes: [TAGS_TAG('tags')],
      columns: TAG_COLUMNS.map((c) => ({ ...c, typeOid: c.name === 'tag' ? 25 : 23 })),
      rows: 2,
    });
    const copyText = async (key: string | null) =>
      (await readFile(path.join(dir, key!), 'utf8')).split('\n').filter(Boolean).sort();
    expect(await copyText(itemsDef!.dataKey)).toEqual([
      '1\ta\t9000000000',
      '2\tb\t2',
      '3\tc\t3',
      '4\td\t4',
      '5\te\t5',
    ]);
    expect(await copyText(tagsDef!.dataKey)).toEqual(['1\t1\tt1', '2\t2\tt2']);
    // sequences follow their owners: renamed column followed, dropped table's gone
    expect(manifest.sequences).toEqual([
      { ...SEQUENCES[0], ownedBy: { schema: 'public', table: 'items', column: 'quantity' } },
      SEQUENCES[2],
    ]);
  }, 120_000);

  it('restores from the compacted snapshot past more schema changes exactly', async () => {
    const more = await writeSegments(store, {
      source: SOURCE,
      snapshotLsn: BASE_LSN,
      prevSha256: segments.at(-1)!.sha256,
      groups: [AFTER],
    });
    segments = [...segments, ...more];
    const catalog = new JournalCatalog(store);
    const plan = await planFromCatalog(catalog, SOURCE, { kind: 'latest' });
    expect(plan.snapshot.manifestKey).toBe(manifestKey);
    expect(plan.segmentKeys).toEqual([more[0]!.key]);
    const outcome = await executeRestore({
      id: 'r_ddl',
      source: SOURCE,
      target: { kind: 'latest' },
      into: parseTargetUrl(cluster.url('after_ddl')),
      store,
      catalog,
      signal: new AbortController().signal,
      logger: silentLogger,
      onProgress: () => {},
    });
    expect(outcome.warnings).toEqual([]);
    expect(await query('after_ddl', 'SELECT id, name, quantity::text FROM items ORDER BY id')).toEqual([
      [1, 'a', '9000000000'],
      [2, 'b', '20'],
      [3, 'c', '3'],
      [4, 'd', '4'],
      [5, 'e', '5'],
    ]);
    expect(await query('after_ddl', 'SELECT id, item, tag FROM labels ORDER BY id')).toEqual([
      [1, 1, 't1'],
      [2, 2, 't2'],
      [3, 3, 't3'],
    ]);
    expect(
      await query(
        'after_ddl',
        `SELECT table_name, column_name, data_type, column_default FROM information_schema.columns
          WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
      ),
    ).toEqual([
      ['items', 'id', 'integer', null],
      ['items', 'name', 'text', null],
      ['items', 'quantity', 'bigint', '0'],
      ['keep', 'id', 'integer', null],
      ['keep', 'v', 'text', "'x'::text"],
      ['labels', 'id', 'integer', null],
      ['labels', 'item', 'integer', null],
      ['labels', 'tag', 'text', null],
    ]);
    expect(
      await query('after_ddl', `SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`),
    ).toEqual([['items_name'], ['items_pkey'], ['keep_pkey'], ['tags_pkey'], ['tags_tag']]);
    expect(
      await query(
        'after_ddl',
        `SELECT pg_get_serial_sequence('public.items', 'quantity'), nextval('free_seq')`,
      ),
    ).toEqual([['public.items_qty_seq', '43']]);
  }, 120_000);

  it('names the damaged objects in the details when no snapshot verifies', async () => {
    const damaged = [manifest.tables[0]!.dataKey!, baseManifest.tables[0]!.dataKey!];
    for (const key of damaged) await truncate(path.join(dir, key), 3);
    try {
      await planFromCatalog(new JournalCatalog(store), SOURCE, { kind: 'latest' });
      expect.unreachable('the plan must fail');
    } catch (err) {
      expect(isTidemarkError(err, 'SNAPSHOT_CORRUPT'), String(err)).toBe(true);
      const details = (err as { details: Record<string, unknown> }).details;
      expect(details).toMatchObject({ key: damaged[0], damagedKeys: damaged });
    }
  }, 60_000);
});
