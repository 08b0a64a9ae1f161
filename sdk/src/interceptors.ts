/**
 * The interceptors every client of the SDK runs, outermost first:
 *
 * 1. `retryInterceptor`: `unavailable` is retried with exponential back-off and
 *    jitter, for the calls that are safe to repeat (see `isRetryable`), within
 *    the call's deadline.
 * 2. `signingInterceptor`: signs each attempt afresh (new nonce and time) over
 *    the body exactly as the transport will send it (docs/auth.md).
 */
import { create, type DescMessage, toBinary, toJsonString } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  type Interceptor,
  type StreamRequest,
  type UnaryRequest,
} from '@connectrpc/connect';
import { grpcFrame, signRequest, UNSIGNED_STREAM } from '../../lib/auth/signing.js';
import type { Signer } from './credentials.js';
import { toLgspError } from './errors.js';

export type WireProtocol = 'grpc' | 'connect';

export interface WireFormat {
  readonly protocol: WireProtocol;
  /** Connect only: protobuf (`application/proto`) rather than JSON. gRPC is always binary. */
  readonly binary: boolean;
}

/** The bytes of one request message as the transport writes them (no compression). */
export function encodeMessage(schema: DescMessage, message: object, format: WireFormat): Uint8Array {
  const full = create(schema, message as never);
  if (format.protocol === 'grpc' || format.binary) return toBinary(schema, full);
  return new TextEncoder().encode(toJsonString(schema, full));
}

/** The clock correction learnt from a CLOCK_SKEW refusal, in milliseconds to add to the local clock. */
export interface ClockState {
  offsetMs: number;
}

export function signingInterceptor(
  signer: Signer | undefined,
  format: WireFormat,
  clock: ClockState,
): Interceptor {
  return (next) => async (req) => {
    if (signer === undefined) return next(req);
    const url = new URL(req.url);
    const target = url.pathname + url.search;
    const sign = (body: Uint8Array | typeof UNSIGNED_STREAM) => {
      const headers = signRequest({
        method: req.requestMethod,
        url: target,
        body,
        accessKeyId: signer.accessKeyId,
        key: signer.key,
        algorithm: signer.algorithm,
        now: new Date(Date.now() + clock.offsetMs),
      });
      for (const [name, value] of Object.entries(headers)) req.header.set(name, value);
    };
    if (!req.stream) {
      // A unary body is the bare message in Connect, one frame in gRPC.
      const bytes = encodeMessage(req.method.input, req.message, format);
      sign(format.protocol === 'grpc' ? grpcFrame(bytes) : bytes);
      return next(req);
    }
    if (req.method.methodKind === 'server_streaming') {
      // One request message, enveloped like a gRPC frame in both protocols.
      const messages: object[] = [];
      for await (const message of req.message) messages.push(message);
      const frames = messages.map((m) => grpcFrame(encodeMessage(req.method.input, m, format)));
      sign(Buffer.concat(frames));
      return next({ ...req, message: iterate(messages) } as StreamRequest);
    }
    // A client stream cannot be hashed before it is sent (docs/auth.md).
    sign(UNSIGNED_STREAM);
    return next(req);
  };
}

async function* iterate<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}

/**
 * Calls that may be repeated after `unavailable` without doing twice what
 * was asked: reads, and writes the platform makes idempotent.
 */
const RETRYABLE = new Set([
  // Reads
  'lgsp.registry.v1.RegistryService/GetUnit',
  'lgsp.registry.v1.RegistryService/ResolveUnitCode',
  'lgsp.registry.v1.RegistryService/SearchUnits',
  'lgsp.registry.v1.RegistryService/ListUnitEvents',
  'lgsp.registry.v1.RegistryService/GetApp',
  'lgsp.registry.v1.RegistryService/ListApps',
  'lgsp.registry.v1.RegistryService/ListGrants',
  'lgsp.registry.v1.RegistryService/CheckGrant',
  'lgsp.registry.v1.RegistryService/ListZones',
  'lgsp.registry.v1.RegistryService/ResolveRecipients',
  'lgsp.auth.v1.AuthService/GetServerTime',
  'lgsp.auth.v1.AuthService/GetCredential',
  'lgsp.auth.v1.AuthService/ListCredentials',
  'lgsp.transfer.v1.TransferService/OpenSession',
  'lgsp.transfer.v1.TransferService/GetTransfer',
  'lgsp.transfer.v1.TransferService/ListTransfers',
  'lgsp.transfer.v1.TransferService/ListPendingDeliveries',
  'lgsp.transfer.v1.TransferService/GetDeliveryStatus',
  'lgsp.storage.v1.StorageService/GetUploadStatus',
  'lgsp.storage.v1.StorageService/DownloadChunk',
  'lgsp.storage.v1.StorageService/Stat',
  'lgsp.notification.v1.NotificationService/ListNotices',
  'lgsp.notification.v1.NotificationService/Heartbeat',
  'lgsp.notification.v1.NotificationService/GetPresence',
  'lgsp.notification.v1.NotificationService/ListPresence',
  'lgsp.notification.v1.NotificationService/ListConnectionHistory',
  'lgsp.notification.v1.NotificationService/ListWebhooks',
  // Writes the platform answers the same when repeated (docs/transfers.md, "Idempotency and retries")
  'lgsp.transfer.v1.TransferService/CommitTransfer',
  'lgsp.transfer.v1.TransferService/CancelTransfer',
  'lgsp.transfer.v1.TransferService/ConfirmDelivery',
  'lgsp.transfer.v1.TransferService/RefuseDelivery',
  'lgsp.storage.v1.StorageService/UploadChunk',
  'lgsp.notification.v1.NotificationService/AckNotices',
]);

/** Whether a unary call may be retried: listed above, or a CreateTransfer carrying an idempotency key. */
export function isRetryable(req: UnaryRequest): boolean {
  const name = `${req.method.parent.typeName}/${req.method.name}`;
  if (RETRYABLE.has(name)) return true;
  if (name === 'lgsp.transfer.v1.TransferService/CreateTransfer') {
    return ((req.message as { idempotencyKey?: string }).idempotencyKey ?? '') !== '';
  }
  return false;
}

export interface RetryPolicy {
  /** Attempts in all, the first included (default 5). 1 disables retries. */
  readonly maxAttempts?: number;
  /** First back-off, before jitter (default 200 ms); doubles each time. */
  readonly initialBackoffMs?: number;
  /** Largest back-off (default 5 s). */
  readonly maxBackoffMs?: number;
}

/** Back-off before attempt `attempt + 1`: exponential, capped, with "equal jitter" (half fixed, half random). */
export function backoffMs(attempt: number, policy: RetryPolicy = {}): number {
  const initial = policy.initialBackoffMs ?? 200;
  const max = policy.maxBackoffMs ?? 5000;
  const ceiling = Math.min(max, initial * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Resolves after `ms`, or rejects when `signal` aborts first (the deadline passed). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryEvents {
  /** Told before each retry. */
  readonly onRetry?: (info: {
    method: string;
    attempt: number;
    delayMs: number;
    error: ConnectError;
  }) => void;
}

export function retryInterceptor(policy: RetryPolicy, clock: ClockState, events: RetryEvents): Interceptor {
  const maxAttempts = Math.max(1, policy.maxAttempts ?? 5);
  return (next) => async (req) => {
    if (req.stream) return next(req);
    let skewRetried = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req);
      } catch (raw) {
        const error = ConnectError.from(raw);
        // A clock off by more than the platform allows: learn the offset from its answer and sign again once.
        if (!skewRetried && error.code === Code.Unauthenticated) {
          const skew = toLgspError(error);
          const serverTime = Date.parse(skew.info['server_time'] ?? '');
          if (skew.reason === 'CLOCK_SKEW' && Number.isFinite(serverTime)) {
            clock.offsetMs = serverTime - Date.now();
            skewRetried = true;
            attempt--;
            continue;
          }
        }
        if (error.code !== Code.Unavailable || attempt >= maxAttempts || !isRetryable(req)) throw raw;
        const delayMs = backoffMs(attempt, policy);
        events.onRetry?.({ method: req.method.name, attempt, delayMs, error });
        // The deadline covers every attempt: when it passes during the back-off, the call ends with it.
        await sleep(delayMs, req.signal).catch(() => {
          throw new ConnectError(
            `deadline passed while retrying: ${error.rawMessage}`,
            Code.DeadlineExceeded,
          );
        });
      }
    }
  };
}

/**
 * Wraps a generated client so that whatever fails — an answer, a deadline the
 * transport enforces, a broken stream — rejects with a typed LgspError.
 * (Connect turns errors thrown by interceptors back into plain ConnectErrors
 * when a deadline or cancellation is involved, so this is done outside them.)
 */
export function typedErrors<T extends object>(client: T): T {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        let result: unknown;
        try {
          result = value.apply(target, args);
        } catch (error) {
          throw toLgspError(error);
        }
        if (result instanceof Promise)
          return result.catch((error: unknown) => Promise.reject(toLgspError(error)));
        if (result !== null && typeof result === 'object' && Symbol.asyncIterator in result) {
          const source = result as AsyncIterable<unknown>;
          return (async function* () {
            try {
              yield* source;
            } catch (error) {
              throw toLgspError(error);
            }
          })();
        }
        return result;
      };
    },
  });
}
