/**
 * The load generator. It runs in a worker thread of its own, so that the
 * client's work (encoding, decoding, the HTTP stacks) does not compete with the
 * servers for the main thread's event loop: on a two-core machine, one core
 * serves and one loads.
 *
 * A closed loop: `concurrency` loops each send a request, wait for its answer,
 * check it, and send the next; first for the warm-up (not measured), then for
 * the measured duration. Every answer is checked, a wrong one counts as an error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  fromBinary,
  fromJson,
  type MessageInitShape,
  type MessageShape,
  toBinary,
  toJson,
} from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { Health, HealthCheckResponse_ServingStatus } from '#gen/grpc/health/v1/health_pb.js';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import type { CallName, LoadResult, LoadSpec, WorkerMessage } from './scenarios.js';

/** The unit every GetUnit asks for (Sở Tài chính of the demo tree). */
export const BENCH_UNIT_CODE = '000.00.03.H26';

interface Call<I extends DescMessage, O extends DescMessage> {
  readonly method: DescMethodUnary<I, O>;
  readonly request: MessageInitShape<I>;
  readonly isRight: (answer: MessageShape<O>) => boolean;
}

/** Keeps the message types while writing a call, then erases them for the generic senders. */
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
  }
}

type Send = () => Promise<void>;

/** A grpc-js generic client: protobuf-es does the (de)serialisation, grpc-js the transport. */
function grpcSender(address: string, call: Call<DescMessage, DescMessage>): { send: Send; close(): void } {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const { method } = call;
  const path = `/${method.parent.typeName}/${method.name}`;
  const serialize = (message: MessageShape<DescMessage>) => Buffer.from(toBinary(method.input, message));
  const deserialize = (bytes: Buffer) => fromBinary(method.output, bytes);
  const request = create(method.input, call.request);
  const send: Send = () =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        path,
        serialize,
        deserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
        (error, answer) => {
          if (error !== null) reject(error);
          else if (answer === undefined || !call.isRight(answer)) reject(new Error('wrong answer'));
          else resolve();
        },
      );
    });
  return { send, close: () => client.close() };
}

/** Connect unary JSON: POST /<service>/<method> with the message as JSON, answer parsed as JSON. */
function jsonSender(baseUrl: string, call: Call<DescMessage, DescMessage>): { send: Send; close(): void } {
  const { method } = call;
  const url = `${baseUrl}/${method.parent.typeName}/${method.name}`;
  const body = JSON.stringify(toJson(method.input, create(method.input, call.request)));
  const send: Send = async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    const json: unknown = await res.json();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(json).slice(0, 200)}`);
    if (!call.isRight(fromJson(method.output, json as never))) throw new Error('wrong answer');
  };
  return { send, close: () => {} };
}

export async function runLoad(spec: LoadSpec, onMeasuring: () => void = () => {}): Promise<LoadResult> {
  const call = callOf(spec.call);
  const sender =
    spec.target.protocol === 'grpc'
      ? grpcSender(spec.target.address, call)
      : jsonSender(spec.target.baseUrl, call);
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
          await sender.send();
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
    sender.close();
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
