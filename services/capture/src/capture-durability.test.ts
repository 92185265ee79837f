import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCapture } from './test-support/capture-harness.js';
import { MemorySink } from './test-support/memory-sink.js';
import {
  createDatabase,
  FLAVORS,
  type PostgresCluster,
  slotConfirmedLsn,
  sql,
  startPostgres,
  waitFor,
} from './test-support/source-fixture.js';

/** No loss: the server only hears of LSNs whose transactions are durable downstream. */
describe.concurrent.each(FLAVORS)('capture durability on %s', (flavor) => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await startPostgres({ flavor });
  });
  afterAll(async () => {
    await cluster.stop();
  });

  const insertedIds = (sink: MemorySink) =>
    sink.rows().flatMap((r) => (r.change.op === 'insert' ? [Number(r.change.new.values[0])] : []));

  it('never confirms past a transaction whose write has not resolved', async () => {
    const url = await createDatabase(cluster);
    await sql(url, 'create table t (id int primary key)');
    const sink = new MemorySink('manual');
    const h = await startCapture(url, { sink });
    const slot = `tm_${new URL(url).pathname.slice(1)}`;
    try {
      const start = await slotConfirmedLsn(url, slot);
      for (const id of [1, 2, 3]) await sql(url, `insert into t values (${id})`);
      await waitFor('three writes', () => sink.pending.length === 3);
      const [w1, w2, w3] = sink.pending;
      expect(w1!.tx.commitLsn < w2!.tx.commitLsn && w2!.tx.commitLsn < w3!.tx.commitLsn).toBe(true);

      // the second is durable, the first not: nothing may be confirmed
      w2!.resolve();
      await new Promise((r) => setTimeout(r, 300));
      expect(await slotConfirmedLsn(url, slot)).toBe(start);
      expect(h.capture.status.confirmedLsn).toBeUndefined();

      w1!.resolve(); // now both, in order
      await waitFor(
        'confirm of the second',
        async () => (await slotConfirmedLsn(url, slot)) === w2!.tx.endLsn,
      );
      expect(h.capture.status.confirmedLsn).toBe(w2!.tx.endLsn);
      expect(h.capture.status.pendingWrites).toBe(1);

      // keepalive replies must carry the confirmed LSN, not the received one
      await sql(url, 'select pg_switch_wal()');
      await new Promise((r) => setTimeout(r, 300));
      expect(await slotConfirmedLsn(url, slot)).toBe(w2!.tx.endLsn);

      w3!.resolve();
      await waitFor(
        'confirm of the third',
        async () => (await slotConfirmedLsn(url, slot)) === w3!.tx.endLsn,
      );
    } finally {
      for (const w of sink.pending) w.resolve();
      await h.capture.stop();
    }
  });

  it('coalesces confirmations: writes resolved together send one status update, never past a hole', async () => {
    const url = await createDatabase(cluster);
    await sql(url, 'create table t (id int primary key)');
    await sql(
      url,
      `create procedure many(n int) language plpgsql as $$
       begin for i in 1..n loop insert into t values (i); commit; end loop; end $$`,
    );
    const n = 300;
    const sink = new MemorySink('manual');
    const h = await startCapture(url, { sink });
    const slot = `tm_${new URL(url).pathname.slice(1)}`;
    try {
      const start = await slotConfirmedLsn(url, slot);
      await sql(url, `call many(${n})`);
      await waitFor(`${n} writes`, () => sink.pending.length === n);
      const writes = [...sink.pending];
      const half = writes.slice(0, n / 2);
      const [hole, ...behind] = writes.slice(n / 2);
      const updates = () => h.capture.status.statusUpdates;
      const before = updates();
      expect(await slotConfirmedLsn(url, slot)).toBe(start);

      // the first half durable at once, in order (as a durable segment resolves them): one update
      for (const w of half) w.resolve();
      await waitFor(
        'confirm of the first half',
        async () => (await slotConfirmedLsn(url, slot)) === half.at(-1)!.tx.endLsn,
      );
      expect(h.capture.status.confirmedLsn).toBe(half.at(-1)!.tx.endLsn);
      // one confirmation (a keepalive reply may add one), where one per transaction would be n / 2
      expect(updates() - before).toBeGreaterThanOrEqual(1);
      expect(updates() - before).toBeLessThanOrEqual(2);
      const afterHalf = updates();

      // everything behind a pending write durable: nothing more may be confirmed
      for (const w of behind) w.resolve();
      await new Promise((r) => setTimeout(r, 300));
      expect(await slotConfirmedLsn(url, slot)).toBe(half.at(-1)!.tx.endLsn);
      expect(h.capture.status.confirmedLsn).toBe(half.at(-1)!.tx.endLsn);

      // the hole closes: the rest goes in one update carrying the newest end LSN
      hole!.resolve();
      const last = behind.at(-1)!;
      await waitFor(
        'confirm of the last',
        async () => (await slotConfirmedLsn(url, slot)) === last.tx.endLsn,
      );
      expect(h.capture.status.confirmedLsn).toBe(last.tx.endLsn);
      expect(h.capture.status.pendingWrites).toBe(0);
      expect(updates() - afterHalf).toBeGreaterThanOrEqual(1);
      expect(updates() - afterHalf).toBeLessThanOrEqual(2);
    } finally {
      for (const w of sink.pending) w.resolve();
      await h.capture.stop();
    }
  });

  it('stop waits for writes in flight and confirms them; a restart resumes without loss', async () => {
    const url = await createDatabase(cluster);
    await sql(url, 'create table t (id int primary key)');
    const sink = new MemorySink('manual');
    const first = await startCapture(url, { sink });
    for (const id of [1, 2]) await sql(url, `insert into t values (${id})`);
    await waitFor('two writes', () => sink.pending.length === 2);
    const stopping = first.capture.stop();
    await new Promise((r) => setTimeout(r, 100));
    for (const w of sink.pending) w.resolve();
    await stopping;
    const confirmed = first.capture.status.confirmedLsn;
    expect(confirmed).toBe(sink.pending[1]!.tx.endLsn);

    for (const id of [3, 4]) await sql(url, `insert into t values (${id})`); // while capture is down
    const second = await startCapture(url, { store: first.store });
    try {
      await sql(url, 'insert into t values (5)');
      await second.sync();
      // nothing confirmed is delivered again, nothing after it is missing
      expect(second.sink.written.every((tx) => tx.commitLsn >= confirmed!)).toBe(true);
      expect(insertedIds(second.sink)).toEqual([3, 4, 5]);
      expect(second.capture.status.snapshotLsn).toBe(first.capture.status.snapshotLsn);
    } finally {
      await second.capture.stop();
    }
  });

  it('reconnects after the walsender is terminated and loses nothing', async () => {
    const url = await createDatabase(cluster);
    await sql(url, 'create table t (id int primary key)');
    const h = await startCapture(url);
    const slot = `tm_${new URL(url).pathname.slice(1)}`;
    try {
      await sql(url, 'insert into t values (1)');
      await h.sync();
      const killed = await sql(
        url,
        'select pg_terminate_backend(active_pid) as ok from pg_replication_slots where slot_name = $1',
        [slot],
      );
      expect(killed.rows[0]).toEqual({ ok: true });
      await sql(url, 'insert into t values (2)');
      await waitFor('reconnect', () => h.capture.status.restarts >= 1 && h.capture.status.connected);
      await sql(url, 'insert into t values (3)');
      await h.sync();
      expect([...new Set(insertedIds(h.sink))]).toEqual([1, 2, 3]);
    } finally {
      await h.capture.stop();
    }
  });

  it('restarts from the slot when a sink write fails, delivering the failed transaction again', async () => {
    const url = await createDatabase(cluster);
    await sql(url, 'create table t (id int primary key)');
    const sink = new MemorySink('auto');
    sink.failWrites.add(2);
    const h = await startCapture(url, { sink });
    try {
      for (const id of [1, 2, 3]) await sql(url, `insert into t values (${id})`);
      await h.sync();
      expect(h.capture.status.restarts).toBeGreaterThanOrEqual(1);
      expect(h.capture.status.lastError).toMatch(/injected failure of write 2/);
      const ids = insertedIds(sink);
      // write 2 failed: it is delivered again (with anything after it); duplicates are the journal's to drop
      expect(ids.filter((id) => id === 2).length).toBeGreaterThanOrEqual(2);
      expect([...new Set(ids)].sort((a, b) => a - b)).toEqual([1, 2, 3]);
    } finally {
      await h.capture.stop();
    }
  });

  it('heartbeats produce fresh commits on an idle source', async () => {
    const url = await createDatabase(cluster);
    const h = await startCapture(url, { heartbeatIntervalMs: 100 });
    try {
      await waitFor('two heartbeats', () => {
        const beats = h.sink.written.filter((tx) =>
          tx.changes.some((c) => c.op === 'message' && c.prefix === 'tidemark.heartbeat'),
        );
        return beats.length >= 2 && beats;
      });
      await waitFor('heartbeats confirmed', () => h.capture.status.confirmedLsn !== undefined);
      const now = BigInt(Date.now()) * 1000n;
      expect(h.capture.status.lastCommitTime).toBeGreaterThan(now - 10_000_000n);
    } finally {
      await h.capture.stop();
    }
  });
});
