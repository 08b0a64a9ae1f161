/**
 * Purge (Art. 5.3): the blob becomes PURGED with its reason, its data key is
 * dropped in the same transaction (whatever ciphertext might survive can no
 * longer be read), its tokens stop working (every RPC refuses a purged blob,
 * with BLOB_PURGED so the holder learns why), and then every stored object of
 * the blob is deleted. Metadata and the declared digest stay. If deleting
 * objects fails, the sweep retries until none is left.
 */
import type { Kysely, Transaction } from 'kysely';
import type { StorageContext } from '../context.js';
import { deleteParts, findBlob, listParts, lockBlob, updateBlob } from '../db/blobs.js';
import { emitBlobEvent } from '../db/events.js';
import type { BlobRow } from '../db/rows.js';
import type { PurgeReasonName, StorageDatabase } from '../db/schema.js';
import { blobNotFound } from './errors.js';

export async function purgeBlob(
  ctx: StorageContext,
  blobId: string,
  reason: PurgeReasonName,
  /** Objects written for the blob that no part row names (an upload's unrecorded last part). */
  strayKeys: readonly string[] = [],
): Promise<BlobRow> {
  const row = await ctx.db.transaction().execute(async (trx) => {
    const current = await lockBlob(trx, blobId);
    if (current === undefined) throw blobNotFound(blobId);
    if (current.state === 'purged') return current;
    return markPurged(ctx, trx, current, reason);
  });
  ctx.outbox.wake();
  return removeContent(ctx, row, strayKeys);
}

/** The state change of a purge, inside the caller's transaction, on a row it locked. */
export async function markPurged(
  ctx: StorageContext,
  trx: Kysely<StorageDatabase>,
  row: BlobRow,
  reason: PurgeReasonName,
): Promise<BlobRow> {
  const purged = await updateBlob(trx, row.id, {
    state: 'purged',
    purge_reason: reason,
    purged_at: new Date(),
    // Crypto-shredding: without the data key, no copy of the ciphertext anywhere can be read.
    wrapped_key: null,
  });
  await emitBlobEvent(trx, ctx.config.busPrefix, 'purged', purged);
  ctx.digests.forget(row.id);
  return purged;
}

/** After a purge committed: deletes the content now, or leaves it to the sweep if that fails. */
export async function removeContent(
  ctx: StorageContext,
  row: BlobRow,
  strayKeys: readonly string[] = [],
): Promise<BlobRow> {
  if (row.content_deleted_at !== null) return row;
  try {
    return await deleteContent(ctx, row, strayKeys);
  } catch (err) {
    ctx.logger.warn({ err, blobId: row.id }, 'purged blob content not deleted yet; the sweep retries');
    return row;
  }
}

/**
 * Deletes every stored object of a purged blob, then its part rows; marks the content gone.
 * `claimed` is the transaction holding the blob's row locked, when the caller has one:
 * opening another transaction on that row would wait for the lock forever.
 */
export async function deleteContent(
  ctx: StorageContext,
  row: BlobRow,
  strayKeys: readonly string[] = [],
  claimed?: Transaction<StorageDatabase>,
): Promise<BlobRow> {
  const recorded = (await listParts(claimed ?? ctx.db, row.id)).map((p) => p.object_key);
  // Listing catches objects no row names: a part whose writer died between the write and the record.
  const listed = await ctx.blobs.list(`${row.id}/`);
  for (const key of new Set([...recorded, ...strayKeys, ...listed])) await ctx.blobs.delete(key);
  const markDeleted = async (trx: Transaction<StorageDatabase>) => {
    await deleteParts(trx, row.id);
    return updateBlob(trx, row.id, { content_deleted_at: new Date() });
  };
  return claimed === undefined ? ctx.db.transaction().execute(markDeleted) : markDeleted(claimed);
}

/** Purges a blob if it exists and is not purged yet; never throws NotFound. */
export async function purgeIfPresent(
  ctx: StorageContext,
  blobId: string,
  reason: PurgeReasonName,
): Promise<void> {
  const row = await findBlob(ctx.db, blobId);
  if (row !== undefined && row.state !== 'purged') await purgeBlob(ctx, blobId, reason);
}
