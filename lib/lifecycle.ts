/**
 * Process entry points: start, then on SIGTERM or SIGINT stop gracefully
 * (readiness off, in-flight calls finished, consumers drained), and on a
 * second signal give up waiting.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from './logger.js';

export interface Closable {
  close(): Promise<void>;
}

export function runUntilSignal(start: () => Promise<Closable>, logger: Logger): void {
  let running: Closable | undefined;
  let stopping = false;
  let firstSignalAt = 0;
  const stop = (signal: NodeJS.Signals) => {
    // npm and tsx relay the terminal's signal, so one Ctrl-C can arrive twice: only a later one forces.
    if (stopping && Date.now() - firstSignalAt < 1_000) return;
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(130);
    }
    stopping = true;
    firstSignalAt = Date.now();
    logger.info({ signal }, 'shutting down');
    void (running?.close() ?? Promise.resolve()).then(
      () => {
        process.exitCode = 0;
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  start().then(
    (closable) => {
      running = closable;
      if (stopping) void closable.close();
    },
    (error: unknown) => {
      logger.fatal({ err: error }, 'failed to start');
      process.exitCode = 1;
      process.removeListener('SIGTERM', stop);
      process.removeListener('SIGINT', stop);
    },
  );
}

/** True when the module is the script node was started with (not imported). */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
}
