/**
 * The load's side of the protocol (worker-protocol.ts), in a worker thread or
 * in a child process: runs the load function with the spec the orchestrator
 * passed, and posts its result or its failure.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CHILD_ENV, type OrchestratorMessage, type WorkerMessage } from './worker-protocol.js';

export interface WorkerPort {
  /** Says the worker is prepared and waits for the orchestrator's `go`. */
  ready(): Promise<void>;
  /** Says the measured window opens now. */
  measuring(): void;
  /** Says a named stage of the measured work begins now. */
  phase(name: string): void;
}

interface Channel {
  post(message: WorkerMessage<unknown>, transfer?: ArrayBuffer[]): void;
  next(): Promise<OrchestratorMessage>;
}

/** When this module runs as a load (thread or child process), runs `load` with its spec and reports back. */
export function serveWorker<S, R>(
  load: (spec: S, port: WorkerPort) => Promise<R>,
  transferables: (result: R) => ArrayBuffer[] = () => [],
): void {
  if (parentPort !== null && workerData !== null && typeof workerData === 'object') {
    const parent = parentPort;
    const channel: Channel = {
      post: (message, transfer = []) => parent.postMessage(message, transfer),
      next: () => new Promise((resolve) => parent.once('message', resolve)),
    };
    serve(channel, workerData as S, load, transferables);
  } else if (process.env[CHILD_ENV] === '1' && process.send !== undefined) {
    const send = process.send.bind(process);
    const channel: Channel = {
      post: (message) => send(message),
      next: () => new Promise((resolve) => process.once('message', resolve)),
    };
    channel.next().then((first) => {
      if (first.kind !== 'spec') throw new Error(`expected the spec first, got ${first.kind}`);
      serve(channel, first.spec as S, load, () => []).finally(() => process.disconnect());
    });
  }
}

async function serve<S, R>(
  channel: Channel,
  spec: S,
  load: (spec: S, port: WorkerPort) => Promise<R>,
  transferables: (result: R) => ArrayBuffer[],
): Promise<void> {
  const port: WorkerPort = {
    ready: async () => {
      const go = channel.next();
      channel.post({ kind: 'ready' });
      const message = await go;
      if (message.kind !== 'go') throw new Error(`expected go, got ${message.kind}`);
    },
    measuring: () => channel.post({ kind: 'measuring' }),
    phase: (name) => {
      const cpu = process.cpuUsage();
      channel.post({ kind: 'phase', name, cpuMs: (cpu.user + cpu.system) / 1000 });
    },
  };
  try {
    const result = await load(spec, port);
    channel.post({ kind: 'result', result }, transferables(result));
  } catch (error) {
    channel.post({
      kind: 'failed',
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
  }
}
