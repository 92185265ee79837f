import { describe, expect, it } from 'vitest';
import { ConfirmationQueue } from './confirmation-queue.js';

describe('ConfirmationQueue', () => {
  it('confirms only the durable prefix, in order', () => {
    const q = new ConfirmationQueue();
    const a = q.push(10n, 20n, 1n);
    const b = q.push(30n, 40n, 2n);
    const c = q.push(50n, 60n, 3n, true); // empty transaction: nothing to write
    expect(q.takeConfirmable()).toBeUndefined();
    b.durable = true;
    expect(q.takeConfirmable()).toBeUndefined(); // b waits for a
    a.durable = true;
    expect(q.takeConfirmable()).toBe(c); // a, b and the empty c all go
    expect(q.length).toBe(0);
    expect(q.takeConfirmable()).toBeUndefined();
  });

  it('clear forgets pending tickets', () => {
    const q = new ConfirmationQueue();
    const a = q.push(1n, 2n, 0n);
    q.clear();
    a.durable = true;
    expect(q.takeConfirmable()).toBeUndefined();
    expect(q.length).toBe(0);
  });

  it('stays correct across compaction', () => {
    const q = new ConfirmationQueue();
    const tickets = Array.from({ length: 5000 }, (_, i) => q.push(BigInt(i * 2), BigInt(i * 2 + 1), 0n));
    for (let i = 0; i < 3000; i++) tickets[i]!.durable = true;
    expect(q.takeConfirmable()?.endLsn).toBe(5999n);
    expect(q.length).toBe(2000);
    tickets[3001]!.durable = true;
    expect(q.takeConfirmable()).toBeUndefined();
    tickets[3000]!.durable = true;
    expect(q.takeConfirmable()?.endLsn).toBe(6003n);
    expect(q.length).toBe(1998);
  });
});
