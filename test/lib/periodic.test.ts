import { describe, expect, it } from 'vitest';
import { silentLogger } from '#lib/logger.js';
import { startPeriodic } from '#lib/periodic.js';

const until = async (condition: () => boolean, what: string) => {
  const deadline = Date.now() + 2_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('periodic background work', () => {
  it('runs a pass at once, then at each tick or when woken, never two at once', async () => {
    let passes = 0;
    let inFlight = 0;
    let overlapped = false;
    const task = startPeriodic({
      name: 'test',
      intervalMs: 60_000,
      logger: silentLogger(),
      pass: async () => {
        inFlight += 1;
        overlapped ||= inFlight > 1;
        passes += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight -= 1;
      },
    });
    await until(() => passes === 1, 'the first pass');
    task.wake();
    task.wake();
    task.wake();
    await until(() => passes === 2, 'the woken pass');
    await new Promise((resolve) => setTimeout(resolve, 80));
    // Wakes during a pass coalesce into one more pass, not one each.
    expect(passes).toBe(2);
    expect(overlapped).toBe(false);
    await task.stop();
  });

  it('runs again at once while a pass says work is left, and goes on after a failure', async () => {
    const results: Array<boolean | Error> = [true, true, new Error('boom'), false];
    let passes = 0;
    const task = startPeriodic({
      name: 'test',
      intervalMs: 60_000,
      logger: silentLogger(),
      pass: async () => {
        const next = results[passes++];
        if (next instanceof Error) throw next;
        return next;
      },
    });
    await until(() => passes === 3, 'the passes with work left');
    // The failure is logged; the next pass waits for the interval, or a wake-up.
    task.wake();
    await until(() => passes === 4, 'the pass after the failure');
    await task.stop();
  });

  it('stops: no pass after stop() resolved', async () => {
    let passes = 0;
    const task = startPeriodic({
      name: 'test',
      intervalMs: 10,
      logger: silentLogger(),
      pass: async () => {
        passes += 1;
      },
    });
    await until(() => passes >= 2, 'a few ticks');
    await task.stop();
    const stoppedAt = passes;
    task.wake();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(passes).toBe(stoppedAt);
  });
});
