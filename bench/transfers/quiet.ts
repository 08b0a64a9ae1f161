/** Waiting for the process to be at rest before a measurement starts. */
const MiB = 1024 * 1024;

/**
 * Waits until the servers are nearly idle (main thread under 15 % busy over a
 * quarter of a second), at most 15 s: the background work a scenario left
 * (offers, purges of delivered content, the outbox) must not be billed to the next.
 */
export async function settle(): Promise<void> {
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline) {
    const before = performance.eventLoopUtilization();
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (performance.eventLoopUtilization(before).utilization < 0.15) return;
  }
}

/**
 * Waits until the process's RSS holds still (within 2 MiB over a second, at
 * most 15 s), after a full collection when `--expose-gc` allows one (npm run
 * bench passes it): memory that earlier work (workers just ended, garbage)
 * is still handing back must not count as the start, or the transfer would
 * seem to shrink the process.
 */
export async function steadyRss(): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  const deadline = performance.now() + 15_000;
  const recent: number[] = [];
  while (performance.now() < deadline) {
    recent.push(process.memoryUsage.rss());
    if (recent.length > 5) recent.shift();
    if (recent.length === 5 && Math.max(...recent) - Math.min(...recent) < 2 * MiB) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
