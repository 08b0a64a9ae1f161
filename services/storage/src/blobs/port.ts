/**
 * The port every blob adapter implements: a flat namespace of immutable
 * objects named by `/`-separated keys. The storage service keeps only sealed
 * (encrypted) bytes in it and its own bookkeeping in Postgres, so an adapter
 * needs no notion of blobs, parts or offsets.
 */

export type BlobBackendName = 'fs' | 'nats';

export interface BlobStore {
  readonly backend: BlobBackendName;
  /**
   * Stores every byte `source` yields under `key`, replacing an object of
   * that key, and resolves with the byte count once the object is durable.
   * All or nothing: when `source` throws or the write fails, no object (or
   * the previous one) is left under `key`, and the error is rethrown.
   * `source` is read with backpressure: the adapter pulls the next chunk only
   * when the previous one is on its way.
   */
  put(key: string, source: AsyncIterable<Uint8Array>): Promise<number>;
  /**
   * Streams the object's bytes from byte `start` (default 0) to its end.
   * Throws `BlobObjectNotFoundError` on the first read when there is no
   * object under `key`.
   */
  read(key: string, start?: number): AsyncIterable<Uint8Array>;
  /** The object's size in bytes, or undefined when there is none. */
  size(key: string): Promise<number | undefined>;
  /** Removes the object; false when there was none. Idempotent. */
  delete(key: string): Promise<boolean>;
  /** Keys of every object whose key starts with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
  close(): Promise<void>;
}

export class BlobObjectNotFoundError extends Error {
  override name = 'BlobObjectNotFoundError';
  readonly key: string;

  constructor(key: string) {
    super(`no stored object ${key}`);
    this.key = key;
  }
}

/** Keys are plain names: letters, digits, `_`, `-` and `.` in `/`-separated segments, never `.` or `..`. */
const KEY = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;

/** Throws unless `key` is a key the adapters accept (so no key can name a path outside the store). */
export function assertKey(key: string): void {
  if (key.length > 512 || !KEY.test(key))
    throw new Error(`not a valid blob object key: ${JSON.stringify(key)}`);
}
