/**
 * The SHA-256 of a request body exactly as it arrived, for signature checks.
 * Connect decodes (and decompresses) the body before any interceptor runs, so
 * the raw bytes are read first, hashed, and replayed to Connect. Only bodies
 * that are read whole anyway are buffered (unary and server-streaming calls,
 * already bounded by the read limit); streamed uploads are not.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { createContextKey } from '@connectrpc/connect';

/** Lower-case hex SHA-256 of the body, or undefined when it was not computed (too large, streamed). */
export const bodyDigestKey = createContextKey<string | undefined>(undefined, {
  description: 'request body sha256',
});

const DIGEST = Symbol('lgsp.bodyDigest');
const BODY = Symbol('lgsp.body');

type NodeRequest = (IncomingMessage | Http2ServerRequest) & { [DIGEST]?: string; [BODY]?: Buffer };

/** Reads the body (up to `maxBytes`), remembers its digest and lets Connect read the same bytes again. */
export async function bufferBody(req: NodeRequest, maxBytes: number): Promise<void> {
  const source = req[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  const hash = createHash('sha256');
  let size = 0;
  let complete = true;
  for (;;) {
    const next = await source.next();
    if (next.done === true) break;
    const chunk = next.value as Buffer;
    chunks.push(chunk);
    size += chunk.length;
    if (size > maxBytes) {
      complete = false;
      break;
    }
    hash.update(chunk);
  }
  if (complete) {
    req[DIGEST] = hash.digest('hex');
    req[BODY] = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }
  // Connect iterates the request: give it the buffered chunks, then whatever is left unread.
  Object.defineProperty(req, Symbol.asyncIterator, {
    configurable: true,
    value: async function* replay() {
      yield* chunks;
      if (!complete) {
        for (let next = await source.next(); next.done !== true; next = await source.next()) yield next.value;
      }
    },
  });
}

export function digestOf(req: NodeRequest): string | undefined {
  return req[DIGEST];
}

/** The whole body `bufferBody` read, or undefined when it was not read whole. */
export function bufferedBodyOf(req: NodeRequest): Buffer | undefined {
  return req[BODY];
}
