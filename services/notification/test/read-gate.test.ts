/** The read gate of Subscribe streams: at most `limit` reads at once, the others in order, a waiter can give up. */
import { describe, expect, it } from 'vitest';
import { ReadGate } from '../src/domain/read-gate.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('ReadGate', () => {
  it('runs at most `limit` reads at once, and the others in the order they came', async () => {
    const gate = new ReadGate(2);
    const holds = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = holds.map((h, i) =>
      gate.run(async () => {
        started.push(i);
        await h.promise;
        return i;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    expect(gate.load).toEqual({ active: 2, waiting: 2 });
    holds[1]!.resolve();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    holds[0]!.resolve();
    holds[2]!.resolve();
    holds[3]!.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect(gate.load).toEqual({ active: 0, waiting: 0 });
  });

  it('lets a waiter give up when its signal aborts, and frees the slot of a read that failed', async () => {
    const gate = new ReadGate(1);
    const hold = deferred();
    const first = gate.run(() => hold.promise);
    const abort = new AbortController();
    const waiting = gate.run(async () => 'never', abort.signal);
    abort.abort(new Error('the client went away'));
    await expect(waiting).rejects.toThrow('the client went away');
    expect(gate.load).toEqual({ active: 1, waiting: 0 });
    hold.resolve();
    await first;
    await expect(gate.run(() => Promise.reject(new Error('read failed')))).rejects.toThrow('read failed');
    await expect(gate.run(async () => 'next')).resolves.toBe('next');
    expect(() => new ReadGate(0)).toThrow();
  });
});
