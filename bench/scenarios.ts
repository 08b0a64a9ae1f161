/** What the orchestrator (registry-suite.ts) asks of a load worker (load.ts), and what it answers. */
import type { WorkerMessage as ProtocolMessage } from './worker-protocol.js';

/** The unit every GetUnit asks for (Sở Tài chính of the demo tree); the bench's app is registered under it. */
export const BENCH_UNIT_CODE = '000.00.03.H26';

/**
 * The RPCs a scenario can drive, each with a fixed request and a check of every
 * answer: suite 1's Health.Check and GetUnit; the gateway suite's echo (bare
 * server only) and AuthService/GetServerTime.
 */
export type CallName = 'health-check' | 'get-unit' | 'echo' | 'server-time';

/**
 * An access key and its secret or private key, in a form that crosses to a
 * worker thread (structured clone): strings only, the PEM is parsed there.
 */
export interface SignerSpec {
  readonly accessKeyId: string;
  readonly key:
    | { readonly kind: 'hmac'; readonly secret: string }
    | { readonly kind: 'rsa'; readonly privateKeyPem: string };
}

export type Target =
  /** gRPC over cleartext HTTP/2 with a `@grpc/grpc-js` client (one channel, one connection). */
  | { readonly protocol: 'grpc'; readonly address: string }
  /**
   * Connect unary JSON over HTTP/1.1 with `fetch` (undici, keep-alive, a connection per request in flight),
   * or with `node:http` and a keep-alive agent (`client: 'node-http'`, the same connections, a lighter client).
   */
  | { readonly protocol: 'connect-json'; readonly baseUrl: string; readonly client?: 'fetch' | 'node-http' };

export interface LoadSpec {
  readonly call: CallName;
  readonly target: Target;
  /** Sign every request with this key, each with a fresh nonce and timestamp; unsigned without it. */
  readonly signer?: SignerSpec;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Requests in flight at any time (closed loop: each finished request starts the next). */
  readonly concurrency: number;
  /** Stop measuring after this many requests even if the duration has not elapsed. */
  readonly maxRequests: number;
}

export interface LoadResult {
  /** Requests answered correctly during the measured window. */
  readonly requests: number;
  /** Failed or wrong answers during the measured window. */
  readonly errors: number;
  /** Failed or wrong answers during the warm-up (not measured). */
  readonly warmupErrors: number;
  /** Up to five distinct error messages. */
  readonly errorSamples: readonly string[];
  /** From the start of the measured window until the last request of it finished. */
  readonly elapsedMs: number;
  /** Share of the measured window the load worker's event loop was busy (1 = the client saturated). */
  readonly clientBusy: number;
  /** Latency of every correct answer, in milliseconds. */
  readonly latenciesMs: Float64Array;
}

/** Messages from a load worker: the start of the measured window, then the result or the failure. */
export type WorkerMessage = ProtocolMessage<LoadResult>;
