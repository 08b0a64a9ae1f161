/**
 * Runs a load in a fresh worker thread (or, when its memory must be told
 * apart from the servers', in a child process), so that the client's work
 * (encoding, signing, hashing, the HTTP stacks) does not compete with the
 * servers for the main thread's event loop, and measures the main thread and
 * the machine over the load's measured window.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type CpuSample, cpuSample, otherLoadSince, ownCpuMsSince } from './cpu.js';
import { CHILD_ENV, type OrchestratorMessage, type WorkerMessage } from './worker-protocol.js';

/** What the main thread and the machine did during a load's measured window. */
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

/** Hooks the orchestrator runs on the main thread at the load's signals. */
export interface WorkerHooks {
  /** After the load said `ready`, before it is told to go. */
  onReady?(): void | Promise<void>;
  /** When the measured window opens. */
  onMeasuring?(): void;
  /** When a named stage begins; `cpuMs` is the CPU time so far of the process that runs the load. */
  onPhase?(name: string, cpuMs: number): void;
  /** When the result arrived, before the load is stopped. */
  onEnd?(): void;
}

/** Both kinds of load: something to send to, to hear from, and to stop. */
interface Runner {
  send(message: OrchestratorMessage): void;
  on(listener: (message: WorkerMessage<unknown>) => void): void;
  onFailure(listener: (error: Error) => void): void;
  stop(): Promise<void>;
}

/** A worker does not inherit the tsx loader: it registers it, then loads the TypeScript module. */
function workerSource(module: URL): string {
  return `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((api) => { api.register(); return import(${JSON.stringify(module.href)}); });`;
}

function threadRunner(module: URL, spec: object): Runner {
  const worker = new Worker(workerSource(module), { eval: true, workerData: spec });
  return {
    send: (message) => worker.postMessage(message),
    on: (listener) => worker.on('message', listener),
    onFailure: (listener) => {
      worker.once('error', listener);
      worker.once('exit', (code) =>
        listener(new Error(`load worker exited with code ${code} before answering`)),
      );
    },
    stop: async () => {
      await worker.terminate();
    },
  };
}

function childRunner(module: URL, spec: object): Runner {
  const child: ChildProcess = fork(fileURLToPath(module), [], {
    execArgv: ['--expose-gc', '--import', import.meta.resolve('tsx')],
    env: { ...process.env, [CHILD_ENV]: '1' },
    // Structured clone, as between threads: typed arrays cross intact.
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.send({ kind: 'spec', spec } satisfies OrchestratorMessage);
  return {
    send: (message) => child.send(message),
    on: (listener) => child.on('message', listener as (message: unknown) => void),
    onFailure: (listener) => {
      child.once('error', listener);
      child.once('exit', (code, signal) =>
        listener(new Error(`load process exited (${signal ?? code}) before answering`)),
      );
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill();
      await exited;
    },
  };
}

/**
 * Runs `module` in a fresh worker thread with `spec` as its data; gives up
 * after `limitMs`. The worker is terminated (closing its connections) before
 * this answers.
 */
export function runInWorker<R>(
  module: URL,
  spec: object,
  limitMs: number,
  hooks: WorkerHooks = {},
): Promise<{ result: R; window: WindowMeasure }> {
  return drive(threadRunner(module, spec), limitMs, hooks);
}

/**
 * The same in a child process of its own: its memory is then not this
 * process's, and its CPU time shows as another process's (the hooks get it
 * with each phase, to take it back out).
 */
export function runInChild<R>(
  module: URL,
  spec: object,
  limitMs: number,
  hooks: WorkerHooks = {},
): Promise<{ result: R; window: WindowMeasure }> {
  return drive(childRunner(module, spec), limitMs, hooks);
}

async function drive<R>(
  runner: Runner,
  limitMs: number,
  hooks: WorkerHooks,
): Promise<{ result: R; window: WindowMeasure }> {
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
      runner.on((message) => {
        switch (message.kind) {
          case 'ready':
            Promise.resolve(hooks.onReady?.()).then(() => runner.send({ kind: 'go' }), fail);
            return;
          case 'measuring':
            busyAtStart = performance.eventLoopUtilization();
            cpuAtStart = cpuSample();
            startedAt = performance.now();
            hooks.onMeasuring?.();
            return;
          case 'phase':
            hooks.onPhase?.(message.name, message.cpuMs);
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
              result: message.result as R,
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
      runner.onFailure(fail);
    });
  } finally {
    await runner.stop();
  }
}
