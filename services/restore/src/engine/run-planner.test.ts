import { describe, expect, it } from 'vitest';
import { commutes, type RunItem, RunPlanner } from './run-planner.js';

const LIMITS = { maxChanges: 1000, maxWeight: 1_000_000, maxRuns: 64 };

/** ins('t', '1') etc.: an item on table t (family t unless given) with its key */
const item = (
  shape: string | undefined,
  table: string,
  key: string | undefined,
  family = table,
): RunItem => ({
  family,
  table,
  shape: shape === undefined ? undefined : `${shape} ${table}`,
  key,
});
const ins = (table: string, key?: string, family?: string) => item('insert', table, key, family);
const upd = (table: string, key: string, family?: string) => item('update', table, key, family);
const del = (table: string, key: string, family?: string) => item('delete', table, key, family);
const alone = (table: string, family?: string) => item(undefined, table, undefined, family);

/** Plans the items (named by their index) and returns the runs as lists of names. */
function plan(items: readonly RunItem[], limits = LIMITS): string[][] {
  const p = new RunPlanner<string>(limits);
  for (const [i, it] of items.entries()) p.add(it, String(i), 1);
  return p.take().map((r) => r.values);
}

describe('RunPlanner', () => {
  it('keeps one run of inserts open across updates and deletes of other rows', () => {
    // three source transactions of "insert 2 rows, update another row", a delete in the second
    const items = [ins('t', 'a'), ins('t', 'b'), upd('t', 'x'), ins('t', 'c'), ins('t', 'd'), upd('t', 'y')];
    items.push(del('t', 'z'), ins('t', 'e'), upd('t', 'w'));
    expect(plan(items)).toEqual([['0', '1', '3', '4', '7'], ['2', '5', '8'], ['6']]);
  });
  it('keeps journal order for a row the queued runs touch', () => {
    // the update of b must follow the insert of b; the insert of c may still pass it
    expect(plan([ins('t', 'a'), ins('t', 'b'), upd('t', 'b'), ins('t', 'c')])).toEqual([
      ['0', '1', '3'],
      ['2'],
    ]);
    // but an insert of b after its update and delete may not
    expect(plan([ins('t', 'b'), upd('t', 'b'), del('t', 'b'), ins('t', 'b')])).toEqual([
      ['0'],
      ['1'],
      ['2'],
      ['3'],
    ]);
    // delete then re-insert of one key
    expect(plan([ins('t', 'a'), del('t', 'x'), ins('t', 'x')])).toEqual([['0'], ['1'], ['2']]);
  });
  it('never puts one key twice into a run', () => {
    expect(plan([upd('t', 'a'), upd('t', 'b'), upd('t', 'a')])).toEqual([['0', '1'], ['2']]);
  });
  it('lets changes of other tables pass, but not of another table of the same partition tree', () => {
    expect(plan([ins('t', 'a'), upd('u', 'a'), ins('t', 'b')])).toEqual([['0', '2'], ['1']]);
    expect(plan([ins('p1', 'a', 'p'), upd('p2', 'x', 'p'), ins('p1', 'b', 'p')])).toEqual([
      ['0'],
      ['1'],
      ['2'],
    ]);
    expect(plan([ins('p1', 'a', 'p'), upd('q', 'x'), ins('p1', 'b', 'p')])).toEqual([['0', '2'], ['1']]);
  });
  it('lets nothing on its table pass a change whose row is not known by key', () => {
    // a key change or a REPLICA IDENTITY FULL match goes alone and is a barrier for its table
    expect(plan([ins('t', 'a'), alone('t'), ins('t', 'b'), upd('u', '1'), ins('t', 'c')])).toEqual([
      ['0'],
      ['1'],
      ['2', '4'],
      ['3'],
    ]);
    // inserts into a table without a primary key share runs, but nothing passes them
    expect(plan([ins('n'), ins('n'), alone('n'), ins('n')])).toEqual([['0', '1'], ['2'], ['3']]);
    expect(plan([ins('n'), upd('t', 'x'), ins('n')])).toEqual([['0', '2'], ['1']]);
  });
  it('never merges changes that go alone', () => {
    expect(plan([alone('t'), alone('t')])).toEqual([['0'], ['1']]);
  });
  it('says when a limit is reached', () => {
    const p = new RunPlanner<string>({ maxChanges: 3, maxWeight: 100, maxRuns: 2 });
    expect(p.add(ins('t', 'a'), 'a', 10)).toBe(false);
    expect(p.add(upd('t', 'x'), 'b', 10)).toBe(true); // two runs
    p.take();
    expect(p.add(ins('t', 'a'), 'a', 99)).toBe(false);
    expect(p.add(ins('t', 'b'), 'b', 1)).toBe(true); // weight
    p.take();
    expect(p.queuedRuns).toBe(0);
    p.add(ins('t', 'a'), 'a', 1);
    p.add(ins('t', 'b'), 'b', 1);
    expect(p.add(ins('t', 'c'), 'c', 1)).toBe(true); // changes
  });
  it('commutes by family, table and key', () => {
    const p = new RunPlanner<string>(LIMITS);
    p.add(ins('t', 'a'), '0', 1);
    const [run] = p.take();
    if (!run) throw new Error('no run');
    expect(commutes(upd('t', 'b'), run)).toBe(true);
    expect(commutes(upd('t', 'a'), run)).toBe(false);
    expect(commutes(upd('u', 'a'), run)).toBe(true);
    expect(commutes(alone('t'), run)).toBe(false);
  });
});
