/**
 * The running SHA-256 of uploads in progress in this process, by blob: a
 * continuing upload (the next UploadChunk, a resumed stream) that lands on
 * the same replica extends the hash instead of reading back what is stored.
 * Entries hold the hash state at a recorded offset and are handed out as
 * copies, so a part that fails half-way never taints them. When the entry is
 * missing (another replica took the earlier parts, a restart, an eviction),
 * the upload re-reads the stored content once when it completes.
 */
import { createHash, type Hash } from 'node:crypto';

interface Entry {
  readonly offset: number;
  readonly hash: Hash;
}

export class DigestCache {
  readonly #entries = new Map<string, Entry>();
  readonly #capacity: number;

  /** `capacity`: uploads tracked at once; the oldest is dropped beyond it (a few hundred bytes each). */
  constructor(capacity = 10_000) {
    this.#capacity = capacity;
  }

  /**
   * A hash of the blob's first `offset` bytes to continue with: a fresh one at
   * offset 0, a copy of the remembered state when it is at `offset`, else undefined.
   */
  resume(blobId: string, offset: number): Hash | undefined {
    if (offset === 0) return createHash('sha256');
    const entry = this.#entries.get(blobId);
    return entry !== undefined && entry.offset === offset ? entry.hash.copy() : undefined;
  }

  /** Remembers the hash of the blob's first `offset` bytes (a copy: the caller goes on using its own). */
  remember(blobId: string, offset: number, hash: Hash): void {
    this.#entries.delete(blobId);
    this.#entries.set(blobId, { offset, hash: hash.copy() });
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }

  forget(blobId: string): void {
    this.#entries.delete(blobId);
  }

  get size(): number {
    return this.#entries.size;
  }
}
