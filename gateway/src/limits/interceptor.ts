/**
 * What one client may take of the gateway: requests per second per app, and
 * streams open at once per app. Past either, the call is
 * answered `resource_exhausted` with when to retry (`retry-after`, seconds,
 * and `retry_after_ms` in the ErrorInfo) before it reaches any service, and
 * other clients are unaffected. Runs after authentication, on the verified
 * caller; operators and anonymous calls (public RPCs only) are not limited here.
 */
import { Code, ConnectError, type Interceptor, type StreamResponse } from '@connectrpc/connect';
import { type Caller, CallerKind, ErrorInfoSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { callerKey } from '#lib/rpc/caller.js';
import type { TokenBuckets } from './token-buckets.js';

const DOMAIN = 'gateway.lgsp';

export interface LimitsOptions {
  readonly buckets: TokenBuckets;
  /** Streaming calls one app may hold open at once on this replica; 0 for no limit. */
  readonly maxStreamsPerApp: number;
}

export function limitsInterceptor(options: LimitsOptions): Interceptor {
  const open = new Map<string, number>();
  const release = (key: string) => {
    const n = (open.get(key) ?? 1) - 1;
    if (n <= 0) open.delete(key);
    else open.set(key, n);
  };

  return (next) => async (req) => {
    const key = limitKey(req.contextValues.get(callerKey));
    if (key === undefined) return next(req);
    const taken = options.buckets.take(key);
    if (!taken.ok) {
      const rate = options.buckets.rateOf(key);
      throw exhausted(
        'RATE_LIMITED',
        `${key} is limited to ${rate.perSecond} request${rate.perSecond === 1 ? '' : 's'} per second (bursts of ${rate.burst}); retry after ${taken.retryAfterMs} ms`,
        taken.retryAfterMs,
      );
    }
    if (req.method.methodKind === 'unary' || options.maxStreamsPerApp <= 0) return next(req);

    const held = open.get(key) ?? 0;
    if (held >= options.maxStreamsPerApp) {
      throw exhausted(
        'TOO_MANY_STREAMS',
        `${key} already holds ${held} streams on this gateway, the most allowed; close one, or retry later`,
        1_000,
      );
    }
    open.set(key, held + 1);
    let released = false;
    const done = () => {
      if (released) return;
      released = true;
      req.signal.removeEventListener('abort', done);
      release(key);
    };
    // A client that goes away ends the call, whether or not its stream was ever read.
    req.signal.addEventListener('abort', done, { once: true });
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (error) {
      done();
      throw error;
    }
    if (req.method.methodKind === 'client_streaming') {
      done();
      return res;
    }
    // A server stream is open until its messages run out or the client goes.
    const stream = res as StreamResponse;
    return { ...stream, message: releasing(stream.message, done) };
  };
}

/** Apps are limited; operators (the province's administrators and their tools) and anonymous calls are not. */
function limitKey(caller: Caller): string | undefined {
  return caller.kind === CallerKind.APP && caller.appId !== '' ? caller.appId : undefined;
}

async function* releasing<T>(messages: AsyncIterable<T>, done: () => void): AsyncIterable<T> {
  try {
    yield* messages;
  } finally {
    done();
  }
}

function exhausted(reason: string, message: string, retryAfterMs: number): ConnectError {
  return new ConnectError(
    message,
    Code.ResourceExhausted,
    { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
    [
      {
        desc: ErrorInfoSchema,
        value: { reason, domain: DOMAIN, metadata: { retry_after_ms: String(retryAfterMs) } },
      },
    ],
  );
}
