/** Reading a blob's plaintext back from its parts: for downloads, and to digest an upload finished elsewhere. */
import { createHash } from 'node:crypto';
import { FailedPreconditionError } from '#lib/errors.js';
import type { StorageContext } from '../context.js';
import { unwrapDataKey } from '../crypto/data-keys.js';
import { partsCovering } from '../db/blobs.js';
import type { BlobPartRow, BlobRow } from '../db/rows.js';
import { blobPurged, contentGap, contentKeyUnreadable } from './errors.js';
import { readPart, type StoredPart } from './part-codec.js';

/** The blob's data key; refuses a purged blob (its key is gone) and one kept by another backend. */
export function dataKeyOf(ctx: StorageContext, row: BlobRow): Buffer {
  if (row.state === 'purged' || row.wrapped_key === null) throw blobPurged(row);
  if (row.backend !== ctx.blobs.backend) {
    throw new FailedPreconditionError(
      'BLOB_BACKEND_MISMATCH',
      `blob ${row.id} is kept by the ${row.backend} backend; this replica uses ${ctx.blobs.backend}`,
      { blob_id: row.id, backend: row.backend },
    );
  }
  try {
    return unwrapDataKey(ctx.secretBox, row.id, row.wrapped_key);
  } catch {
    throw contentKeyUnreadable(row.id);
  }
}

export function toStoredPart(row: BlobPartRow): StoredPart {
  return {
    partNo: row.part_no,
    offset: row.offset_bytes,
    plaintextBytes: row.plaintext_bytes,
    storedBytes: row.stored_bytes,
    objectKey: row.object_key,
  };
}

/** The plaintext of `[from, to)` in order, in pieces of at most one segment; `DataLossError` if damaged. */
export async function* readContent(
  ctx: StorageContext,
  row: BlobRow,
  from: number,
  to: number,
): AsyncGenerator<Buffer> {
  if (from >= to) return;
  const key = dataKeyOf(ctx, row);
  const parts = await partsCovering(ctx.db, row.id, from, to);
  let position = from;
  for (const part of parts.map(toStoredPart)) {
    if (part.offset > position) break;
    for await (const piece of readPart(ctx.blobs, key, row.id, part, position, to)) {
      position += piece.length;
      yield piece;
    }
  }
  if (position < to) throw contentGap(row.id, position);
}

/** SHA-256 of the stored plaintext of the first `upTo` bytes, read back once. */
export async function digestStored(ctx: StorageContext, row: BlobRow, upTo: number): Promise<Buffer> {
  const hash = createHash('sha256');
  for await (const piece of readContent(ctx, row, 0, upTo)) hash.update(piece);
  return hash.digest();
}
