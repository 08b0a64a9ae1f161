/**
 * An interceptor that sees every error of a call: those thrown before the
 * answer and, for server streams, those thrown while the stream is being
 * produced (which Connect would otherwise send as they are, past any
 * interceptor that only awaits `next`).
 */
import type { Interceptor, StreamRequest, UnaryRequest } from '@connectrpc/connect';

/** Handles an error; must throw (the same error, or what it becomes). */
export type ErrorHandler = (error: unknown, req: UnaryRequest | StreamRequest) => never;

export function interceptErrors(handle: ErrorHandler): Interceptor {
  return (next) => async (req) => {
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (error) {
      handle(error, req);
    }
    if (!res.stream) return res;
    return { ...res, message: guarded(res.message, (error) => handle(error, req)) };
  };
}

async function* guarded<T>(messages: AsyncIterable<T>, handle: (error: unknown) => never): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    handle(error);
  }
}
