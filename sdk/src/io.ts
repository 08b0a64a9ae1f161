/** Byte plumbing for uploads and downloads: sources, fixed-size pieces, hashing. */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';

/** What can be uploaded or sent: a file path, bytes in memory, or a Node Readable of bytes. */
export type ContentSource = string | Uint8Array | Readable;

/** Progress of an upload or a download. `totalBytes` is undefined when it is not known yet. */
export interface Progress {
  readonly bytes: number;
  readonly totalBytes: number | undefined;
}

export type ProgressCallback = (progress: Progress) => void;

export function isPath(source: ContentSource): source is string {
  return typeof source === 'string';
}

export function isBytes(source: ContentSource): source is Uint8Array {
  return source instanceof Uint8Array;
}

export async function sizeOf(source: ContentSource): Promise<number | undefined> {
  if (isPath(source)) return (await stat(source)).size;
  if (isBytes(source)) return source.length;
  return undefined;
}

/** The bytes of a source from its start, as an async iterable (a file is read anew each time). */
export function bytesOf(source: ContentSource, chunkBytes = 1024 * 1024): AsyncIterable<Uint8Array> {
  if (isPath(source)) return createReadStream(source, { highWaterMark: chunkBytes });
  if (isBytes(source)) {
    return (async function* () {
      for (let at = 0; at < source.length; at += chunkBytes) yield source.subarray(at, at + chunkBytes);
    })();
  }
  return source as AsyncIterable<Uint8Array>;
}

/** Re-cuts a byte stream into pieces of exactly `size` bytes (the last one shorter). */
export async function* pieces(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  for await (const raw of source) {
    let chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    while (chunk.length > 0) {
      const take = Math.min(size - pendingBytes, chunk.length);
      pending.push(chunk.subarray(0, take));
      pendingBytes += take;
      chunk = chunk.subarray(take);
      if (pendingBytes === size) {
        yield pending.length === 1 ? pending[0]! : Buffer.concat(pending);
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (pendingBytes > 0) yield pending.length === 1 ? pending[0]! : Buffer.concat(pending);
}

/** SHA-256 and size of a whole source. A Readable is consumed: see `spool` to keep its bytes. */
export async function digestOf(source: ContentSource): Promise<{ sha256: Buffer; sizeBytes: number }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of bytesOf(source)) {
    hash.update(chunk);
    sizeBytes += chunk.length;
  }
  return { sha256: hash.digest(), sizeBytes };
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function newHash(): Hash {
  return createHash('sha256');
}
