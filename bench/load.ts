/**
 * The load generator. It runs in a worker thread of its own, so that the
 * client's work (encoding, decoding, signing, the HTTP stacks) does not compete
 * with the servers for the main thread's event loop: on a two-core machine,
 * one core serves and one loads.
 *
 * A closed loop: `concurrency` loops each send a request, wait for its answer,
 * check it, and send the next; first for the warm-up (not measured), then for
 * the measured duration. Every answer is checked, a wrong one counts as an error.
 * A signed scenario signs each request inside the loop, as a real client does,
 * so the signing time is part of every measured latency.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
} from '@bufbuild/protobuf';
import { Health, HealthCheckResponse_ServingStatus } from '#gen/grpc/health/v1/health_pb.js';
import { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { clientFor, signerOf } from './client.js';
import { ECHO_METHOD, ECHO_TEXT } from './gateway/echo.js';
import {
  BENCH_UNIT_CODE,
  type CallName,
  type LoadResult,
  type LoadSpec,
  type WorkerMessage,
} from './scenarios.js';

interface Call<I extends DescMessage, O extends DescMessage> {
  readonly method: DescMethodUnary<I, O>;
  readonly request: MessageInitShape<I>;
  readonly isRight: (answer: MessageShape<O>) => boolean;
}

/** Keeps the message types while writing a call, then erases them for the generic sender. */
function defineCall<I extends DescMessage, O extends DescMessage>(
  call: Call<I, O>,
): Call<DescMessage, DescMessage> {
  return call as unknown as Call<DescMessage, DescMessage>;
}

function callOf(name: CallName): Call<DescMessage, DescMessage> {
  switch (name) {
    case 'health-check':
      return defineCall({
        method: Health.method.check,
        request: {},
        isRight: (answer) => answer.status === HealthCheckResponse_ServingStatus.SERVING,
      });
    case 'get-unit':
      return defineCall({
        method: RegistryService.method.getUnit,
        request: { code: BENCH_UNIT_CODE },
        isRight: (answer) => answer.unit?.code === BENCH_UNIT_CODE,
      });
    case 'echo':
      return defineCall({
        method: ECHO_METHOD,
        request: { text: ECHO_TEXT },
        isRight: (answer) => (answer as unknown as { text?: unknown }).text === ECHO_TEXT,
      });
    case 'server-time':
      return defineCall({
        method: AuthService.method.getServerTime,
        request: {},
        isRight: (answer) => answer.serverTime !== undefined && answer.clockPolicy !== undefined,
      });
  }
}

type Send = () => Promise<void>;

/** One request of the scenario, signed when the spec says so, and its answer checked. */
function sender(spec: LoadSpec): { send: Send; close(): void } {
  const call = callOf(spec.call);
  const client = clientFor(spec.target, spec.signer === undefined ? undefined : signerOf(spec.signer));
  const request = create(call.method.input, call.request);
  const send: Send = async () => {
    if (!call.isRight(await client.unary(call.method, request))) throw new Error('wrong answer');
  };
  return { send, close: () => client.close() };
}

export async function runLoad(spec: LoadSpec, onMeasuring: () => void = () => {}): Promise<LoadResult> {
  const load = sender(spec);
  const latencies = new Float64Array(spec.maxRequests);
  let recorded = 0;
  let errors = 0;
  let warmupErrors = 0;
  const errorSamples = new Set<string>();

  const phase = async (ms: number, measured: boolean) => {
    const end = performance.now() + ms;
    const loop = async () => {
      while (performance.now() < end && (!measured || recorded < spec.maxRequests)) {
        const started = performance.now();
        try {
          await load.send();
          if (measured && recorded < spec.maxRequests) latencies[recorded++] = performance.now() - started;
        } catch (error) {
          if (measured) errors++;
          else warmupErrors++;
          if (errorSamples.size < 5) errorSamples.add(error instanceof Error ? error.message : String(error));
        }
      }
    };
    await Promise.all(Array.from({ length: spec.concurrency }, loop));
  };

  try {
    await phase(spec.warmupMs, false);
    onMeasuring();
    const busyBefore = performance.eventLoopUtilization();
    const started = performance.now();
    await phase(spec.durationMs, true);
    const elapsedMs = performance.now() - started;
    const clientBusy = performance.eventLoopUtilization(busyBefore).utilization;
    return {
      requests: recorded,
      errors,
      warmupErrors,
      errorSamples: [...errorSamples],
      elapsedMs,
      clientBusy,
      latenciesMs: latencies.slice(0, recorded),
    };
  } finally {
    load.close();
  }
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object') {
  const port = parentPort;
  const send = (message: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
  runLoad(workerData as LoadSpec, () => send({ kind: 'measuring' })).then(
    (result) => send({ kind: 'result', result }, [result.latenciesMs.buffer as ArrayBuffer]),
    (error: unknown) =>
      send({
        kind: 'failed',
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
  );
}
