/**
 * A Connect `Transport` over `@grpc/grpc-js`, for calls between services.
 *
 * Why not connect-node's own gRPC transport: a Kubernetes Service pins one
 * HTTP/2 connection to one pod, so every call would land on the same replica.
 * grpc-js resolves every address behind a headless Service name and spreads
 * calls round-robin over them, keeps connections alive with pings and retries
 * calls that never reached a server. The messages stay protobuf-es messages:
 * grpc-js only sees the bytes from `toBinary`/`fromBinary`.
 */

import {
  create,
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from '@connectrpc/connect';
import { findTrailerError } from '@connectrpc/connect/protocol-grpc';
import * as grpc from '@grpc/grpc-js';
import { context, propagation } from '@opentelemetry/api';
import { BadRequestSchema, ErrorInfoSchema } from '#gen/lgsp/common/v1/common_pb.js';

export interface GrpcTransportOptions {
  /**
   * `host:port`: a DNS name resolves to every replica behind it (use a headless Service).
   * Any grpc-js target with a scheme also works, e.g. `ipv4:10.0.0.1:7101,10.0.0.2:7101`.
   */
  readonly address: string;
  /** Keepalive ping interval. Default 30 s. */
  readonly keepaliveMs?: number;
}

const RETRY_SERVICE_CONFIG = JSON.stringify({
  loadBalancingConfig: [{ round_robin: {} }],
  methodConfig: [
    {
      name: [{}],
      // UNAVAILABLE here means the call did not reach a healthy replica (connection refused or reset
      // before a response), so trying another replica is safe.
      retryPolicy: {
        maxAttempts: 3,
        initialBackoff: '0.05s',
        maxBackoff: '1s',
        backoffMultiplier: 2,
        retryableStatusCodes: ['UNAVAILABLE'],
      },
    },
  ],
});

type HeaderInit = ConstructorParameters<typeof Headers>[0];

export interface GrpcTransport extends Transport {
  close(): void;
}

export function createGrpcTransport(options: GrpcTransportOptions): GrpcTransport {
  // A bare host:port resolves through DNS (every replica behind the name); a target with a
  // scheme (`ipv4:a:1,b:2`, `dns:///...`) goes to grpc-js as it is.
  const target = /^([\w.-]+|\[[\w:]+\]):\d+$/.test(options.address)
    ? `dns:///${options.address}`
    : options.address;
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), {
    'grpc.service_config': RETRY_SERVICE_CONFIG,
    'grpc.enable_retries': 1,
    'grpc.keepalive_time_ms': options.keepaliveMs ?? 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });

  return {
    close: () => client.close(),

    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeaderInit | undefined,
      input: MessageInitShape<I>,
    ): Promise<UnaryResponse<I, O>> {
      const metadata = toMetadata(header);
      const message = create(method.input, input);
      return new Promise<UnaryResponse<I, O>>((resolve, reject) => {
        let responseHeader = new Headers();
        const call = client.makeUnaryRequest(
          path(method),
          (m: MessageShape<I>) => Buffer.from(toBinary(method.input, m)),
          (b: Buffer) => fromBinary(method.output, b),
          message,
          metadata,
          callOptions(timeoutMs),
          (error, output) => {
            signal?.removeEventListener('abort', cancel);
            if (error !== null || output === undefined) {
              reject(toConnectError(error));
              return;
            }
            resolve({
              stream: false,
              service: method.parent,
              method,
              header: responseHeader,
              message: output,
              trailer: new Headers(),
            });
          },
        );
        call.on('metadata', (md: grpc.Metadata) => {
          responseHeader = fromMetadata(md);
        });
        const cancel = () => call.cancel();
        if (signal?.aborted) call.cancel();
        signal?.addEventListener('abort', cancel, { once: true });
      });
    },

    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeaderInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
    ): Promise<StreamResponse<I, O>> {
      const metadata = toMetadata(header);
      const serialize = (m: MessageShape<I>) => Buffer.from(toBinary(method.input, m));
      const deserialize = (b: Buffer) => fromBinary(method.output, b);
      const options = callOptions(timeoutMs);
      const p = path(method);
      if (method.methodKind === 'client_streaming') {
        return new Promise<StreamResponse<I, O>>((resolve, reject) => {
          let responseHeader = new Headers();
          const call = client.makeClientStreamRequest(
            p,
            serialize,
            deserialize,
            metadata,
            options,
            (error, output) => {
              signal?.removeEventListener('abort', cancel);
              if (error !== null || output === undefined) {
                reject(toConnectError(error));
                return;
              }
              resolve({
                stream: true as const,
                service: method.parent,
                method,
                header: responseHeader,
                trailer: new Headers(),
                message: once(output),
              });
            },
          );
          call.on('metadata', (md: grpc.Metadata) => {
            responseHeader = fromMetadata(md);
          });
          const cancel = () => call.cancel();
          signal?.addEventListener('abort', cancel, { once: true });
          void pump(method.input, input, call);
        });
      }
      const call: grpc.ClientReadableStream<MessageShape<O>> =
        method.methodKind === 'bidi_streaming'
          ? client.makeBidiStreamRequest(p, serialize, deserialize, metadata, options)
          : client.makeServerStreamRequest(
              p,
              serialize,
              deserialize,
              await first(method.input, input),
              metadata,
              options,
            );
      if (method.methodKind === 'bidi_streaming') {
        void pump(method.input, input, call as grpc.ClientDuplexStream<MessageShape<I>, MessageShape<O>>);
      }
      const cancel = () => call.cancel();
      signal?.addEventListener('abort', cancel, { once: true });
      const responseHeader = await new Promise<Headers>((resolve, reject) => {
        call.once('metadata', (md: grpc.Metadata) => resolve(fromMetadata(md)));
        call.once('error', (e: grpc.ServiceError) => reject(toConnectError(e)));
      });
      return {
        stream: true as const,
        service: method.parent,
        method,
        header: responseHeader,
        trailer: new Headers(),
        message: readAll<MessageShape<O>>(call, () => signal?.removeEventListener('abort', cancel)),
      };
    },
  };
}

function path(method: DescMethodUnary | DescMethodStreaming): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function callOptions(timeoutMs: number | undefined): grpc.CallOptions {
  return timeoutMs === undefined || timeoutMs <= 0 ? {} : { deadline: Date.now() + timeoutMs };
}

/** Copies headers into metadata and adds the active trace context. */
function toMetadata(header: HeaderInit | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  new Headers(header).forEach((value, key) => {
    if (key.endsWith('-bin')) metadata.add(key, Buffer.from(value, 'base64'));
    else metadata.add(key, value);
  });
  propagation.inject(context.active(), metadata, {
    set: (carrier, key, value) => carrier.set(key, value),
  });
  return metadata;
}

function fromMetadata(metadata: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, values] of Object.entries(metadata.getMap())) {
    headers.append(
      key,
      Buffer.isBuffer(values) ? values.toString('base64').replace(/=+$/, '') : String(values),
    );
  }
  return headers;
}

/** Rebuilds the Connect error, details included, from the gRPC status and trailers. */
function toConnectError(error: grpc.ServiceError | null | undefined): ConnectError {
  if (error === null || error === undefined) return new ConnectError('empty response', Code.Internal);
  const trailer = fromMetadata(error.metadata ?? new grpc.Metadata());
  trailer.set('grpc-status', String(error.code));
  trailer.set('grpc-message', encodeURIComponent(error.details ?? ''));
  const found = findTrailerError(trailer);
  if (found !== undefined) return withKnownDetails(found);
  return new ConnectError(error.details ?? 'call failed', (error.code as number as Code) || Code.Unknown);
}

const KNOWN_DETAILS = [BadRequestSchema, ErrorInfoSchema];

/**
 * Details arrive as bytes with a type name; turning the known ones back into
 * messages lets a JSON client of the gateway read them (the "debug" field).
 */
function withKnownDetails(error: ConnectError): ConnectError {
  error.details = error.details.map((detail) => {
    if ('desc' in detail) return detail;
    const desc = KNOWN_DETAILS.find((d) => d.typeName === detail.type);
    return desc === undefined ? detail : { desc, value: fromBinary(desc, detail.value) };
  });
  return error;
}

async function first<I extends DescMessage>(schema: I, input: AsyncIterable<MessageInitShape<I>>) {
  for await (const message of input) return create(schema, message);
  throw new ConnectError('a server-streaming call needs one request message', Code.Internal);
}

async function pump<I extends DescMessage>(
  schema: I,
  input: AsyncIterable<MessageInitShape<I>>,
  call: grpc.ClientWritableStream<MessageShape<I>>,
): Promise<void> {
  try {
    for await (const message of input) {
      if (!call.write(create(schema, message))) {
        await new Promise((resolve) => call.once('drain', resolve));
      }
    }
    call.end();
  } catch {
    call.cancel();
  }
}

async function* once<T>(message: T): AsyncIterable<T> {
  yield message;
}

async function* readAll<T>(call: NodeJS.ReadableStream & grpc.Call, done: () => void): AsyncIterable<T> {
  try {
    for await (const message of call as AsyncIterable<T>) yield message;
  } catch (error) {
    throw toConnectError(error as grpc.ServiceError);
  } finally {
    done();
  }
}
