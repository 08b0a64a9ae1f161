/**
 * Forwards every method of a service to its upstream replicas, whatever the
 * protocol the client used (gRPC, gRPC-Web or Connect JSON): the gateway
 * decodes the request, the services only ever see gRPC from the mesh. The
 * verified caller, the request id and the deadline go along.
 */
import type { DescMethod, DescMethodStreaming, DescMethodUnary, DescService } from '@bufbuild/protobuf';
import type { ConnectRouter, HandlerContext, Transport } from '@connectrpc/connect';
import { CALLER_HEADER, callerKey, encodeCaller, REQUEST_ID_HEADER } from '#lib/rpc/caller.js';

export function forwardHeaders(ctx: HandlerContext): Headers {
  const caller = ctx.values.get(callerKey);
  const headers = new Headers();
  headers.set(CALLER_HEADER, encodeCaller(caller));
  headers.set(REQUEST_ID_HEADER, caller.requestId);
  return headers;
}

export function proxyService(
  router: ConnectRouter,
  service: DescService,
  transport: Transport,
  defaultTimeoutMs: number,
): void {
  for (const method of service.methods) {
    router.rpc(method as never, handlerFor(method, transport, timeoutFor(method, defaultTimeoutMs)) as never);
  }
}

type Timeout = (ctx: HandlerContext) => number | undefined;

/**
 * The deadline of the upstream call: the client's, else the default. A server
 * stream (a download, a notice stream) lasts as long as the client reads it,
 * so it has only the client's own deadline, if any.
 */
function timeoutFor(method: DescMethod, defaultTimeoutMs: number): Timeout {
  if (method.methodKind === 'server_streaming') return (ctx) => ctx.timeoutMs();
  return (ctx) => ctx.timeoutMs() ?? defaultTimeoutMs;
}

function handlerFor(method: DescMethod, transport: Transport, timeout: Timeout) {
  // DescMethod is not a discriminated union, hence the casts after checking the kind.
  if (method.methodKind === 'unary') {
    const unary = method as DescMethodUnary;
    return async (req: object, ctx: HandlerContext) => {
      const res = await transport.unary(unary, ctx.signal, timeout(ctx), forwardHeaders(ctx), req as never);
      return res.message;
    };
  }
  const streaming = method as DescMethodStreaming;
  switch (streaming.methodKind) {
    case 'server_streaming':
      return async function* (req: object, ctx: HandlerContext) {
        const res = await transport.stream(
          streaming,
          ctx.signal,
          timeout(ctx),
          forwardHeaders(ctx),
          single(req) as never,
        );
        yield* res.message;
      };
    case 'client_streaming':
      return async (reqs: AsyncIterable<object>, ctx: HandlerContext) => {
        const res = await transport.stream(
          streaming,
          ctx.signal,
          timeout(ctx),
          forwardHeaders(ctx),
          reqs as never,
        );
        for await (const message of res.message) return message;
        throw new Error(`${method.name}: upstream sent no response`);
      };
    case 'bidi_streaming':
      return async function* (reqs: AsyncIterable<object>, ctx: HandlerContext) {
        const res = await transport.stream(
          streaming,
          ctx.signal,
          timeout(ctx),
          forwardHeaders(ctx),
          reqs as never,
        );
        yield* res.message;
      };
  }
}

async function* single<T>(value: T): AsyncIterable<T> {
  yield value;
}
