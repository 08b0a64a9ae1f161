/**
 * Runs a load in a fresh worker thread, so that the client's work (encoding,
 * signing, hashing, the HTTP stacks) does not compete with the servers for
 * the main thread's event loop, and measures the main thread and the machine
 * over the worker's measured window.
 */
import { Worker } from 'node:worker_threads';
import { type CpuSample, cpuSample, otherLoadSince, ownCpuMsSince } from './cpu.js';
import type { GoMessage, WorkerMessage } from './worker-protocol.js';

/** What the main thread and the machine did during a worker's measured window. */
export interface WindowMeasure {
  /** Share of the window the main thread (every server of the run) was busy. */
  readonly serverBusy: number;
  /** Milliseconds the main thread was busy during the window. */
  readonly serverActiveMs: number;
  /** Share of the machine's CPU that other processes used during the window. */
  readonly otherLoad: number;
  /** CPU milliseconds of this whole process (servers, worker, libuv pool) during the window. */
  readonly processCpuMs: number;
  /** Length of the window as the main thread saw it, in milliseconds. */
  readonly windowMs: number;
}

/** Hooks the orchestrator runs on the main thread at the worker's signals. */
export interface WorkerHooks {
  /** After the worker said `ready`, before it is told to go. */
  onReady?(): void | Promise<void>;
  /** When the measured window opens. */
  onMeasuring?(): void;
  /** When a named stage begins. */
  onPhase?(name: string): void;
  /** When the result arrived, before the worker is terminated. */
  onEnd?(): void;
}

/** A worker does not inherit the tsx loader: it registers it, then loads the TypeScript module. */
function workerSource(module: URL): string {
  return `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((api) => { api.register(); return import(${JSON.stringify(module.href)}); });`;
}

/**
 * Runs `module` in a fresh worker with `spec` as its data; gives up after
 * `limitMs`. The worker is terminated (closing its connections) before this answers.
 */
export async function runInWorker<R>(
  module: URL,
  spec: object,
  limitMs: number,
  hooks: WorkerHooks = {},
): Promise<{ result: R; window: WindowMeasure }> {
  const worker = new Worker(workerSource(module), { eval: true, workerData: spec });
  try {
    return await new Promise((resolve, reject) => {
      let busyAtStart = performance.eventLoopUtilization();
      let cpuAtStart: CpuSample = cpuSample();
      let startedAt = performance.now();
      const timer = setTimeout(() => reject(new Error(`no result within ${limitMs} ms`)), limitMs);
      const settle = () => clearTimeout(timer);
      const fail = (error: unknown) => {
        settle();
        reject(error);
      };
      worker.on('message', (message: WorkerMessage<R>) => {
        switch (message.kind) {
          case 'ready':
            Promise.resolve(hooks.onReady?.()).then(
              () => worker.postMessage({ kind: 'go' } satisfies GoMessage),
              fail,
            );
            return;
          case 'measuring':
            busyAtStart = performance.eventLoopUtilization();
            cpuAtStart = cpuSample();
            startedAt = performance.now();
            hooks.onMeasuring?.();
            return;
          case 'phase':
            hooks.onPhase?.(message.name);
            return;
          case 'failed':
            fail(new Error(message.error));
            return;
          case 'result': {
            settle();
            const busy = performance.eventLoopUtilization(busyAtStart);
            const end = cpuSample();
            hooks.onEnd?.();
            resolve({
              result: message.result,
              window: {
                serverBusy: busy.utilization,
                serverActiveMs: busy.active,
                otherLoad: otherLoadSince(cpuAtStart, end),
                processCpuMs: ownCpuMsSince(cpuAtStart, end),
                windowMs: performance.now() - startedAt,
              },
            });
          }
        }
      });
      worker.once('error', fail);
      worker.once('exit', (code) => fail(new Error(`load worker exited with code ${code} before answering`)));
    });
  } finally {
    await worker.terminate();
  }
}
