/**
 * Receiving content into a STAGING blob: Upload, UploadChunk and PutBlob all
 * come here. Bytes are cut into parts of at most 8 MiB; each part is written
 * to the adapter as one object and recorded in `blob_parts` only once the
 * adapter says it is durable, under the blob's row lock and only if it starts
 * exactly at the received bytes. So `received_bytes` always counts whole,
 * stored parts: an interrupted upload resumes from there and loses at most
 * the part it was writing.
 *
 * The SHA-256 is computed as the bytes stream through; when the last byte is
 * recorded the digest decides, in the same transaction, between SEALED and
 * PURGED (DIGEST_MISMATCH). When this process does not hold the running
 * digest (earlier parts went to another replica) the stored content is read
 * back once to compute it.
 */
import type { Hash } from 'node:crypto';
import { timingSafeEqual } from 'node:crypto';
import type { StorageContext } from '../context.js';
import { countParts, findBlob, insertPart, lockBlob, updateBlob } from '../db/blobs.js';
import { emitBlobEvent } from '../db/events.js';
import type { BlobRow } from '../db/rows.js';
import type { ByteSource } from './byte-source.js';
import { dataKeyOf, digestStored } from './content.js';
import {
  blobNotFound,
  blobPurged,
  blobSealed,
  digestMismatch,
  offsetMismatch,
  tooManyBytes,
  uploadSpaceExpired,
} from './errors.js';
import { PART_PLAINTEXT_BYTES, type StoredPart, writePart } from './part-codec.js';
import { markPurged, removeContent } from './purge.js';

/**
 * Appends what `source` yields to `blob` from `offset` (its received bytes
 * when the caller checked), then seals the blob if that was the last byte.
 * Returns the blob as it stands. When the source fails half-way, the whole
 * parts are kept and the source's error is rethrown.
 */
export async function receiveContent(
  ctx: StorageContext,
  blob: BlobRow,
  offset: number,
  source: ByteSource,
): Promise<BlobRow> {
  const dataKey = dataKeyOf(ctx, blob);
  const size = blob.size_bytes;
  let row = blob;
  let position = offset;
  let partNo = await countParts(ctx.db, blob.id);
  let hash: Hash | undefined = ctx.digests.resume(blob.id, position);

  while (position < size) {
    const running = hash?.copy();
    const part = await writePart({
      blobs: ctx.blobs,
      dataKey,
      blobId: blob.id,
      partNo,
      offset: position,
      source,
      maxBytes: Math.min(PART_PLAINTEXT_BYTES, size - position),
      hash: running,
    });
    if (part === undefined) break;
    const end = position + part.plaintextBytes;
    const last = end === size;
    if (last && !source.failed && !(await source.atEnd())) {
      await discard(ctx, part.objectKey);
      throw tooManyBytes(row, size + 1);
    }
    const digest = last ? running?.digest() : undefined;
    const recorded = await recordPart(ctx, blob.id, part, digest).catch(async (error: unknown) => {
      await discard(ctx, part.objectKey);
      throw error;
    });
    row = recorded;
    if (row.state === 'purged') {
      await removeContent(ctx, row, [part.objectKey]);
      throw digestMismatch(row.id);
    }
    position = end;
    partNo++;
    if (!last && running !== undefined) {
      hash = running;
      ctx.digests.remember(blob.id, position, hash);
    }
  }

  if (position === size && !source.failed && !(await source.atEnd())) throw tooManyBytes(row, size + 1);
  if (row.state === 'staging' && row.received_bytes === size) row = await finishUpload(ctx, row.id);
  source.throwIfFailed();
  return row;
}

/**
 * Records a durable part if it starts at the received bytes of a blob that
 * still takes content; with `digest` (the part completes the content),
 * seals the blob or purges it on a mismatch, in the same transaction.
 */
async function recordPart(
  ctx: StorageContext,
  blobId: string,
  part: StoredPart,
  digest: Buffer | undefined,
): Promise<BlobRow> {
  const row = await ctx.db.transaction().execute(async (trx) => {
    const current = await lockBlob(trx, blobId);
    if (current === undefined) throw blobNotFound(blobId);
    assertTakesContent(current, new Date());
    if (current.received_bytes !== part.offset) throw offsetMismatch(current, part.offset);
    await insertPart(trx, {
      blob_id: blobId,
      part_no: part.partNo,
      offset_bytes: part.offset,
      plaintext_bytes: part.plaintextBytes,
      stored_bytes: part.storedBytes,
      object_key: part.objectKey,
    });
    const updated = await updateBlob(trx, blobId, { received_bytes: part.offset + part.plaintextBytes });
    if (part.offset === 0) await emitBlobEvent(trx, ctx.config.busPrefix, 'receiving', updated);
    if (digest === undefined) return updated;
    if (sameDigest(digest, updated.sha256)) return seal(ctx, trx, updated);
    return markPurged(ctx, trx, updated, 'digest_mismatch');
  });
  if (row.state !== 'staging' || part.offset === 0) ctx.outbox.wake();
  return row;
}

/**
 * Seals a STAGING blob that holds every byte, reading the stored content back
 * to digest it; purges it (and throws DataLoss) when the digest differs.
 * Harmless to call twice or on a blob already sealed.
 */
export async function finishUpload(ctx: StorageContext, blobId: string): Promise<BlobRow> {
  const found = await findBlob(ctx.db, blobId);
  if (found === undefined) throw blobNotFound(blobId);
  if (found.state !== 'staging' || found.received_bytes !== found.size_bytes) return found;
  const digest = await digestStored(ctx, found, found.size_bytes);
  const row = await ctx.db.transaction().execute(async (trx) => {
    const current = await lockBlob(trx, blobId);
    if (current === undefined) throw blobNotFound(blobId);
    if (current.state !== 'staging' || current.received_bytes !== current.size_bytes) return current;
    if (sameDigest(digest, current.sha256)) return seal(ctx, trx, current);
    return markPurged(ctx, trx, current, 'digest_mismatch');
  });
  ctx.outbox.wake();
  if (row.state === 'purged' && row.purge_reason === 'digest_mismatch') {
    await removeContent(ctx, row);
    throw digestMismatch(row.id);
  }
  return row;
}

/** Throws unless the blob is STAGING and its upload space has not expired. */
export function assertTakesContent(row: BlobRow, now: Date): void {
  if (row.state === 'purged') throw blobPurged(row);
  if (row.state === 'sealed') throw blobSealed(row);
  if (row.expire_at !== null && row.expire_at <= now) throw uploadSpaceExpired(row);
}

async function seal(
  ctx: StorageContext,
  trx: Parameters<typeof updateBlob>[0],
  row: BlobRow,
): Promise<BlobRow> {
  const sealed = await updateBlob(trx, row.id, { state: 'sealed', sealed_at: new Date(), expire_at: null });
  await emitBlobEvent(trx, ctx.config.busPrefix, 'sealed', sealed);
  ctx.digests.forget(row.id);
  return sealed;
}

function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Deletes an object this upload wrote but could not record; a leftover is swept with the blob's purge. */
async function discard(ctx: StorageContext, key: string): Promise<void> {
  await ctx.blobs.delete(key).catch((err: unknown) => {
    ctx.logger.warn({ err, key }, 'unrecorded part not deleted; it goes when its blob is purged');
  });
}
