/**
 * Background work that runs every so often on each replica: never two passes
 * at once, a failed pass logged and retried at the next tick, and a wake-up
 * that runs a pass now (or right after the one under way) instead of waiting.
 */
import type { Subscription } from './bus/bus.js';
import type { Logger } from './logger.js';

export interface PeriodicTask extends Subscription {
  /** Runs a pass as soon as possible. */
  wake(): void;
}

export interface PeriodicOptions {
  /** Named in the log when a pass fails. */
  readonly name: string;
  readonly intervalMs: number;
  /** Delay before the first pass. Default: none. */
  readonly firstDelayMs?: number;
  readonly logger: Logger;
  /** One pass; resolves `true` when work is left over, to run again at once. */
  readonly pass: () => Promise<boolean | undefined | void>;
}

export function startPeriodic(options: PeriodicOptions): PeriodicTask {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;

  const schedule = (ms: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(run, ms);
    timer.unref();
  };
  const run = () => {
    if (running !== undefined) {
      again = true;
      return;
    }
    running = options
      .pass()
      .then(
        (more) => {
          if (more === true) again = true;
        },
        (err: unknown) => options.logger.warn({ err }, `${options.name} failed; will retry`),
      )
      .finally(() => {
        running = undefined;
        const now = again;
        again = false;
        schedule(now ? 0 : options.intervalMs);
      });
  };

  schedule(options.firstDelayMs ?? 0);
  return {
    wake: () => {
      if (running === undefined) schedule(0);
      else again = true;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
