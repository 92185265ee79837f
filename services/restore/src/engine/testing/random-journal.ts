import type { Change, TransactionRecord } from '@tidemark/shared';
import { relationOf, TxBuilder } from './journal-fixture.js';

/**
 * A random but valid journal over a few tables, and the table contents it must leave
 * behind (a model kept alongside), for checking that batched replay is exact. Values
 * are in PostgreSQL's text output form, so the model compares with `col::text`.
 */
export const RANDOM_JOURNAL_DDL = [
  'CREATE TABLE t (id integer PRIMARY KEY, name text, doc text, n numeric(12,2), f double precision, b bytea)',
  'CREATE TABLE k ("K" text PRIMARY KEY, v text)',
  'CREATE TABLE f (line text, n integer)',
  'ALTER TABLE f REPLICA IDENTITY FULL',
  'CREATE TABLE pp ("at" integer NOT NULL, id integer NOT NULL, v text, PRIMARY KEY ("at", id)) PARTITION BY RANGE ("at")',
  'CREATE TABLE p1 PARTITION OF pp FOR VALUES FROM (0) TO (10)',
  'CREATE TABLE p2 PARTITION OF pp FOR VALUES FROM (10) TO (20)',
];

/** SELECTs whose rows (all text) the model's rows must equal, as sets. */
export const RANDOM_JOURNAL_DUMPS: Record<string, string> = {
  t: 'SELECT id::text, name, doc, n::text, f::text, b::text FROM t',
  k: 'SELECT "K", v FROM k',
  f: 'SELECT line, n::text FROM f',
  pp: 'SELECT "at"::text, id::text, v FROM pp',
};

const T = relationOf(1, 'public', 't', [['id', true], 'name', 'doc', 'n', 'f', 'b']);
const K = relationOf(2, 'public', 'k', [['K', true], 'v']);
const F = relationOf(3, 'public', 'f', ['line', 'n'], 'full');
const P1 = relationOf(4, 'public', 'p1', [['at', true], ['id', true], 'v']);
const P2 = relationOf(5, 'public', 'p2', [['at', true], ['id', true], 'v']);
export const RANDOM_JOURNAL_RELATIONS = [T, K, F, P1, P2];

type Row = (string | null)[];
const TEXTS: readonly (string | null)[] = [
  '',
  null,
  "it's",
  'back\\slash',
  "both \\' mixed",
  'żółw 🐢 漢字',
  'tab\tnl\ncr\r',
  'NULL',
  '\\N',
  '$$ -- ;',
];
const NUMERICS = ['0.00', '-1.50', '12345.67', null];
const FLOATS = ['-0', 'NaN', 'Infinity', '-Infinity', '1.5', '0', '1e+300', null];
const BYTEAS = ['\\x', '\\x00ff', '\\xdeadbeef', null];

export function randomJournal(seed: number, transactions: number) {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const pick = <V>(xs: readonly V[]): V => xs[Math.floor(rand() * xs.length)] as V;
  const text = (): string | null => (rand() < 0.02 ? `${'x'.repeat(40_000)}'\\` : pick(TEXTS));
  const model = {
    t: new Map<string, Row>(),
    k: new Map<string, Row>(),
    f: [] as Row[],
    pp: new Map<string, Row>(),
  };
  const someKey = <V>(m: Map<string, V>): string | undefined => {
    if (m.size === 0) return undefined;
    return [...m.keys()][Math.floor(rand() * m.size)];
  };
  const freeId = (taken: (id: string) => boolean): string => {
    for (;;) {
      const id = String(1 + Math.floor(rand() * 300));
      if (!taken(id)) return id;
    }
  };
  const b = new TxBuilder('app', 0x100_0000n, 1_714_557_600_000_000n);
  const records: TransactionRecord[] = [];
  let kCounter = 0;
  for (let x = 0; x < transactions; x++) {
    const changes: Change[] = [];
    const n = 1 + Math.floor(rand() * 8);
    for (let c = 0; c < n; c++) {
      const r = rand();
      if (r < 0.35) {
        // t: inserts, updates (some leaving the TOASTed doc out, some moving the key), deletes
        const id = someKey(model.t);
        const op = rand();
        if (id === undefined || op < 0.45) {
          const row = [
            freeId((i) => model.t.has(i)),
            text(),
            text(),
            pick(NUMERICS),
            pick(FLOATS),
            pick(BYTEAS),
          ];
          model.t.set(row[0] as string, row);
          changes.push({ op: 'insert', rel: 0, new: { values: row } });
        } else if (op < 0.8) {
          const old = model.t.get(id) as Row;
          const row = [id, text(), text(), pick(NUMERICS), pick(FLOATS), pick(BYTEAS)];
          if (rand() < 0.3) {
            row[2] = old[2] ?? null;
            changes.push({
              op: 'update',
              rel: 0,
              new: { values: [...row.slice(0, 2), null, ...row.slice(3)], unchanged: [2] },
            });
          } else changes.push({ op: 'update', rel: 0, new: { values: row } });
          model.t.set(id, row);
        } else if (op < 0.88) {
          const row = [freeId((i) => model.t.has(i)), ...(model.t.get(id) as Row).slice(1)];
          model.t.delete(id);
          model.t.set(row[0] as string, row);
          const old = { values: [id, null, null, null, null, null] };
          changes.push({ op: 'update', rel: 0, old, oldKind: 'key', new: { values: row } });
        } else {
          model.t.delete(id);
          changes.push({
            op: 'delete',
            rel: 0,
            old: { values: [id, null, null, null, null, null] },
            oldKind: 'key',
          });
        }
      } else if (r < 0.55) {
        // k: text keys full of quotes and backslashes
        const key = someKey(model.k);
        const op = rand();
        if (key === undefined || op < 0.5) {
          const row = [`k'${kCounter++}\\${pick(['', 'ż', "'", '\\'])}`, text()];
          model.k.set(row[0] as string, row);
          changes.push({ op: 'insert', rel: 1, new: { values: row } });
        } else if (op < 0.85) {
          const row = [key, text()];
          model.k.set(key, row);
          changes.push({ op: 'update', rel: 1, new: { values: row } });
        } else {
          model.k.delete(key);
          changes.push({ op: 'delete', rel: 1, old: { values: [key, null] }, oldKind: 'key' });
        }
      } else if (r < 0.75) {
        // f: REPLICA IDENTITY FULL, no key, equal rows likely
        const op = rand();
        if (model.f.length === 0 || op < 0.5) {
          const row = [pick(['dup', "it's", 'a\\b', '']), pick(['1', '2', null])];
          model.f.push(row);
          changes.push({ op: 'insert', rel: 2, new: { values: row } });
        } else {
          const i = Math.floor(rand() * model.f.length);
          const old = model.f[i] as Row;
          if (op < 0.8) {
            const row = [old[0] ?? null, pick(['1', '2', '3', null])];
            model.f[i] = row;
            changes.push({
              op: 'update',
              rel: 2,
              old: { values: old },
              oldKind: 'full',
              new: { values: row },
            });
          } else {
            model.f.splice(i, 1);
            changes.push({ op: 'delete', rel: 2, old: { values: old }, oldKind: 'full' });
          }
        }
      } else if (r < 0.98) {
        // pp: a partition tree with a composite key, changes named by leaf
        const key = someKey(model.pp);
        const op = rand();
        if (key === undefined || op < 0.5) {
          const at = String(Math.floor(rand() * 20));
          const id = freeId((i) => model.pp.has(`${at}/${i}`));
          const row = [at, id, text()];
          model.pp.set(`${at}/${id}`, row);
          changes.push({ op: 'insert', rel: Number(at) < 10 ? 3 : 4, new: { values: row } });
        } else {
          const [at, id] = model.pp.get(key) as Row;
          const rel = Number(at) < 10 ? 3 : 4;
          if (op < 0.85) {
            const row = [at ?? null, id ?? null, text()];
            model.pp.set(key, row);
            changes.push({ op: 'update', rel, new: { values: row } });
          } else {
            model.pp.delete(key);
            changes.push({
              op: 'delete',
              rel,
              old: { values: [at ?? null, id ?? null, null] },
              oldKind: 'key',
            });
          }
        }
      } else {
        model.k.clear();
        changes.push({ op: 'truncate', rels: [1], cascade: false, restartIdentity: false });
      }
    }
    records.push(b.tx(RANDOM_JOURNAL_RELATIONS, changes));
  }
  const expected: Record<string, Row[]> = {
    t: [...model.t.values()],
    k: [...model.k.values()],
    f: model.f,
    pp: [...model.pp.values()],
  };
  return { records, expected };
}
