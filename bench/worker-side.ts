/**
 * The worker's side of the protocol (worker-protocol.ts): runs the load
 * function with the spec the orchestrator passed, and posts its result or its
 * failure.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { GoMessage, WorkerMessage } from './worker-protocol.js';

export interface WorkerPort {
  /** Says the worker is prepared and waits for the orchestrator's `go`. */
  ready(): Promise<void>;
  /** Says the measured window opens now. */
  measuring(): void;
  /** Says a named stage of the measured work begins now. */
  phase(name: string): void;
}

/** When this module runs in a worker thread, runs `load` with the worker's data and reports back. */
export function serveWorker<S, R>(
  load: (spec: S, port: WorkerPort) => Promise<R>,
  transferables: (result: R) => ArrayBuffer[] = () => [],
): void {
  if (parentPort === null || workerData === null || typeof workerData !== 'object') return;
  const parent = parentPort;
  const post = (message: WorkerMessage<R>, transfer: ArrayBuffer[] = []) =>
    parent.postMessage(message, transfer);
  const port: WorkerPort = {
    ready: () =>
      new Promise<void>((resolve) => {
        parent.once('message', (message: GoMessage) => {
          if (message.kind === 'go') resolve();
        });
        post({ kind: 'ready' });
      }),
    measuring: () => post({ kind: 'measuring' }),
    phase: (name) => post({ kind: 'phase', name }),
  };
  load(workerData as S, port).then(
    (result) => post({ kind: 'result', result }, transferables(result)),
    (error: unknown) =>
      post({
        kind: 'failed',
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
  );
}
